//! Replication sessions (`replication=database`): slot commands and the
//! logical replication stream (CopyBoth: XLogData, primary keepalive,
//! standby status update).

use std::time::{Duration, Instant};

use bytes::BufMut;
use postgres_protocol::message::backend::Message;

use super::pgoutput::PgOutput;
use super::rows::{Column, SimpleResult};
use super::transport::{Backend, RowsTo, ShutdownHandle, Wire};
use super::{pg_now_us, quote_literal, Lsn, PgConfig, PgError};

/// The reply to `IDENTIFY_SYSTEM`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemInfo {
    /// The cluster's system identifier (a 64-bit number, as text).
    pub systemid: String,
    /// Current timeline.
    pub timeline: u32,
    /// Current WAL flush position.
    pub xlogpos: Lsn,
    /// The database this session is connected to.
    pub dbname: Option<String>,
}

/// The reply to `CREATE_REPLICATION_SLOT … LOGICAL`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotInfo {
    /// The slot's name.
    pub slot_name: String,
    /// The first LSN the slot streams from: every transaction committing
    /// after it is decoded; everything before is in the exported snapshot.
    pub consistent_point: Lsn,
    /// The exported snapshot's name, with [`SnapshotAction::Export`].
    pub snapshot_name: Option<String>,
    /// The output plugin.
    pub output_plugin: Option<String>,
}

/// What `CREATE_REPLICATION_SLOT` does with the slot's consistent snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotAction {
    /// `EXPORT_SNAPSHOT`: export it under [`SlotInfo::snapshot_name`]. It can
    /// be imported by other sessions (`BEGIN ISOLATION LEVEL REPEATABLE READ;
    /// SET TRANSACTION SNAPSHOT '…'`) until this replication session runs its
    /// next command or disconnects — keep it idle while they import.
    Export,
    /// `NOEXPORT_SNAPSHOT`: just create the slot.
    NoExport,
    /// `USE_SNAPSHOT`: use it for the current transaction of this session,
    /// which must be inside `BEGIN ISOLATION LEVEL REPEATABLE READ` with no
    /// query run yet; later queries on this session see it.
    Use,
}

/// A replication session (`replication=database`): replication commands
/// (`IDENTIFY_SYSTEM`, slot creation/removal) and plain SQL, then
/// [`ReplicationConnection::start_logical_replication`].
///
/// The role needs the `REPLICATION` attribute (or to be a superuser) and a
/// `replication` line in `pg_hba.conf`; the server needs
/// `wal_level=logical`.
#[derive(Debug)]
pub struct ReplicationConnection {
    wire: Wire,
}

/// Slot names: lower-case letters, digits and `_`, at most 63 bytes — what
/// PostgreSQL itself accepts.
fn check_slot_name(name: &str) -> Result<(), PgError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(PgError::Config(format!(
            "invalid replication slot name {name:?}: use 1 to 63 lower-case letters, digits \
             and underscores"
        )))
    }
}

/// Plugin and option names: a plain identifier.
fn check_word(what: &str, word: &str) -> Result<(), PgError> {
    let ok = !word.is_empty()
        && word.len() <= 63
        && word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !word.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(PgError::Config(format!(
            "invalid {what} {word:?}: use letters, digits and underscores"
        )))
    }
}

/// The only row of a replication command's reply.
fn single_row(results: Vec<SimpleResult>, command: &str) -> Result<SimpleResult, PgError> {
    results
        .into_iter()
        .find(|r| !r.columns.is_empty())
        .filter(|r| r.rows.len() == 1)
        .ok_or_else(|| PgError::Protocol(format!("{command} did not return one row")))
}

fn required<'a>(r: &'a SimpleResult, col: &str, command: &str) -> Result<&'a str, PgError> {
    r.get(0, col)
        .ok_or_else(|| PgError::Protocol(format!("{command} returned no {col}")))
}

fn parse_lsn(s: &str, command: &str) -> Result<Lsn, PgError> {
    s.parse()
        .map_err(|e| PgError::Protocol(format!("{command}: {e}")))
}

impl ReplicationConnection {
    /// Connects with `replication=database` and authenticates.
    pub fn connect(cfg: &PgConfig) -> Result<Self, PgError> {
        Ok(ReplicationConnection {
            wire: Wire::connect(cfg, true)?,
        })
    }

    /// `IDENTIFY_SYSTEM`: system id, timeline, current WAL position, database.
    pub fn identify_system(&mut self) -> Result<SystemInfo, PgError> {
        const CMD: &str = "IDENTIFY_SYSTEM";
        let r = single_row(self.wire.simple_query(CMD)?, CMD)?;
        let timeline = required(&r, "timeline", CMD)?;
        Ok(SystemInfo {
            systemid: required(&r, "systemid", CMD)?.to_string(),
            timeline: timeline
                .parse()
                .map_err(|_| PgError::Protocol(format!("{CMD}: bad timeline {timeline:?}")))?,
            xlogpos: parse_lsn(required(&r, "xlogpos", CMD)?, CMD)?,
            dbname: r.get(0, "dbname").map(str::to_string),
        })
    }

    /// `CREATE_REPLICATION_SLOT name [TEMPORARY] LOGICAL plugin
    /// {EXPORT|NOEXPORT|USE}_SNAPSHOT` (the syntax PostgreSQL 10+ accepts).
    /// A temporary slot is dropped when this session ends. Fails with the
    /// server's error if the slot exists (SQLSTATE `42710`) or `wal_level`
    /// is not `logical` (`55000`).
    pub fn create_logical_slot(
        &mut self,
        name: &str,
        plugin: &str,
        temporary: bool,
        snapshot: SnapshotAction,
    ) -> Result<SlotInfo, PgError> {
        check_slot_name(name)?;
        check_word("output plugin name", plugin)?;
        let snapshot = match snapshot {
            SnapshotAction::Export => "EXPORT_SNAPSHOT",
            SnapshotAction::NoExport => "NOEXPORT_SNAPSHOT",
            SnapshotAction::Use => "USE_SNAPSHOT",
        };
        let temporary = if temporary { " TEMPORARY" } else { "" };
        let cmd = format!("CREATE_REPLICATION_SLOT {name}{temporary} LOGICAL {plugin} {snapshot}");
        let r = single_row(self.wire.simple_query(&cmd)?, "CREATE_REPLICATION_SLOT")?;
        Ok(SlotInfo {
            slot_name: required(&r, "slot_name", "CREATE_REPLICATION_SLOT")?.to_string(),
            consistent_point: parse_lsn(
                required(&r, "consistent_point", "CREATE_REPLICATION_SLOT")?,
                "CREATE_REPLICATION_SLOT",
            )?,
            snapshot_name: r.get(0, "snapshot_name").map(str::to_string),
            output_plugin: r.get(0, "output_plugin").map(str::to_string),
        })
    }

    /// `DROP_REPLICATION_SLOT name [WAIT]`: with `wait`, waits for a session
    /// still using the slot to end instead of failing (SQLSTATE `55006`).
    /// A missing slot fails with SQLSTATE `42704`.
    pub fn drop_slot(&mut self, name: &str, wait: bool) -> Result<(), PgError> {
        check_slot_name(name)?;
        let wait = if wait { " WAIT" } else { "" };
        self.wire
            .simple_query(&format!("DROP_REPLICATION_SLOT {name}{wait}"))
            .map(drop)
    }

    /// Plain SQL (PostgreSQL 10+ accepts it on `replication=database`
    /// sessions), or any replication command; see
    /// [`super::PgConnection::simple_query`].
    pub fn simple_query(&mut self, sql: &str) -> Result<Vec<SimpleResult>, PgError> {
        self.wire.simple_query(sql)
    }

    /// Streams rows of plain SQL; see [`super::PgConnection::query_rows`].
    /// With [`SnapshotAction::Use`] this reads the slot's snapshot.
    pub fn query_rows(
        &mut self,
        sql: &str,
        on_row: impl FnMut(&[Column], &[Option<&[u8]>]) -> Result<(), PgError>,
    ) -> Result<(), PgError> {
        self.wire.query(sql, &mut RowsTo(on_row))
    }

    /// The server's version as `server_version_num` (e.g. 150004).
    pub fn server_version_num(&self) -> u32 {
        self.wire.server_version_num()
    }

    /// Whether the session is encrypted with TLS (see `sslmode`).
    pub fn is_tls(&self) -> bool {
        self.wire.is_tls()
    }

    /// A parameter the server reported at startup (or changed since).
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.wire.parameter(name)
    }

    /// `START_REPLICATION SLOT slot LOGICAL start (option 'value', …)` and
    /// switches the session into streaming.
    ///
    /// `start` [`Lsn::ZERO`] starts at the slot's `confirmed_flush_lsn`; a
    /// later LSN skips transactions committed before it. Options are
    /// `pgoutput`'s: `("proto_version", "1")` (required; only version 1 is
    /// decoded), `("publication_names", "pub_a,pub_b")` (required; a list of
    /// identifiers — double-quote names with upper-case letters),
    /// `("messages", "true")`. Values are quoted here; pass them bare.
    ///
    /// Errors found when the command starts (unknown slot, slot in use) come
    /// back here; errors found while decoding (e.g. a publication that does
    /// not exist) come back from [`ReplicationStream::recv`].
    pub fn start_logical_replication(
        mut self,
        slot: &str,
        start: Lsn,
        options: &[(&str, &str)],
    ) -> Result<ReplicationStream, PgError> {
        check_slot_name(slot)?;
        let mut cmd = format!("START_REPLICATION SLOT {slot} LOGICAL {start}");
        if !options.is_empty() {
            let mut parts = Vec::with_capacity(options.len());
            for (k, v) in options {
                check_word("replication option name", k)?;
                parts.push(format!("{k} {}", quote_literal(v)));
            }
            cmd.push_str(&format!(" ({})", parts.join(", ")));
        }
        postgres_protocol::message::frontend::query(&cmd, self.wire.wbuf())
            .map_err(|e| PgError::Config(format!("START_REPLICATION options: {e}")))?;
        self.wire.flush()?;
        let mut failure = None;
        loop {
            match self.wire.next()? {
                Backend::CopyBoth => {
                    tracing::debug!(slot, %start, "logical replication started");
                    return Ok(ReplicationStream {
                        wire: self.wire,
                        last_received: start,
                    });
                }
                Backend::Error(e) => failure = Some(e),
                Backend::Skipped => {}
                Backend::Msg(Message::ReadyForQuery(_)) => {
                    return Err(failure.unwrap_or_else(|| {
                        PgError::Protocol("START_REPLICATION ended without streaming".into())
                    }));
                }
                Backend::Msg(_) => {}
            }
        }
    }

    /// A handle to shut this session's socket down from another thread.
    pub fn shutdown_handle(&self) -> Result<ShutdownHandle, PgError> {
        self.wire.shutdown_handle()
    }

    /// Ends the session (sends `Terminate`).
    pub fn close(self) {
        drop(self);
    }
}

/// One message of the replication stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplicationMessage {
    /// WAL data: one decoded `pgoutput` message.
    XLogData {
        /// WAL position of the start of this data.
        wal_start: Lsn,
        /// The server's current end of WAL.
        wal_end: Lsn,
        /// Server clock at sending, microseconds since 2000-01-01 UTC.
        server_time_us: i64,
        /// The decoded message.
        data: PgOutput,
    },
    /// Primary keepalive.
    Keepalive {
        /// The server's current end of WAL.
        wal_end: Lsn,
        /// Server clock at sending, microseconds since 2000-01-01 UTC.
        server_time_us: i64,
        /// The server wants a standby status update now, or it will drop the
        /// connection after `wal_sender_timeout`.
        reply_requested: bool,
    },
}

/// A started logical replication stream. Blocking; use from one thread.
///
/// The server drops the connection if it hears nothing for
/// `wal_sender_timeout` (default 60 s): send
/// [`ReplicationStream::send_standby_status`] regularly (every ~10 s) and
/// whenever a keepalive has `reply_requested`. Confirm as `flush` only
/// positions that are durably processed: the server may discard WAL up to it.
///
/// Two kinds of status update, both needed:
///
/// - **Keepalive replies** ([`ReplicationStream::send_keepalive_reply`]):
///   `write` = [`ReplicationStream::last_received`], `flush` = `apply` =
///   [`Lsn::ZERO`]. They keep the session alive and do not move the slot.
///   Answer every keepalive with `reply_requested` this way.
/// - **Confirmations** ([`ReplicationStream::send_standby_status`] with
///   `flush` = the durable position): move the slot's
///   `confirmed_flush_lsn`.
///
/// Why keepalive replies must not repeat the durable `flush`: on shutdown a
/// logical walsender waits until the client's last reported position
/// (`flush`, or `write` when `flush` is `0/0`) reaches everything it sent,
/// asking with `reply_requested` keepalives; a lagging durable `flush` would
/// hold a fast shutdown until `wal_sender_timeout` (default 60 s).
#[derive(Debug)]
pub struct ReplicationStream {
    wire: Wire,
    last_received: Lsn,
}

impl ReplicationStream {
    /// The next message, waiting at most `timeout`; `Ok(None)` if none came.
    /// Blocks in the socket read (no polling loop).
    ///
    /// Fails with an error whose [`PgError::is_connection_lost`] is true
    /// when the server goes away (shutdown: SQLSTATE `57P01`; crash; network)
    /// or ends the stream; with [`PgError::Server`] when decoding fails on the
    /// server (e.g. a publication does not exist); with
    /// [`PgError::Protocol`] for data this client cannot decode. After any
    /// error the stream is unusable.
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<ReplicationMessage>, PgError> {
        self.recv_until(Instant::now() + timeout.max(Duration::from_millis(1)))
    }

    /// [`ReplicationStream::recv`] until `deadline`. A message already
    /// read from the socket comes back without reading the clock, however
    /// late it is; the clock is read only before waiting on the socket, so
    /// a reader looping over a backlog pays no clock read per change.
    pub fn recv_until(&mut self, deadline: Instant) -> Result<Option<ReplicationMessage>, PgError> {
        loop {
            let msg = match self.wire.next_until(Some(deadline))? {
                None => return Ok(None),
                Some(m) => m,
            };
            match msg {
                Backend::Msg(Message::CopyData(body)) => {
                    let data = body.into_bytes();
                    return self.copy_data(data).map(Some);
                }
                // A walsender that shuts down (after the client confirmed
                // everything sent) ends with `CommandComplete` and closes the
                // connection; one that ends streaming otherwise sends
                // `CopyDone` first.
                Backend::Msg(
                    Message::CopyDone | Message::CommandComplete(_) | Message::ReadyForQuery(_),
                ) => {
                    self.wire.set_broken();
                    tracing::info!(peer = %self.wire.peer, "the server ended the replication stream");
                    return Err(PgError::Closed);
                }
                Backend::Error(e) => {
                    self.wire.set_broken();
                    return Err(e);
                }
                Backend::Skipped => {}
                Backend::CopyBoth | Backend::Msg(_) => {
                    self.wire.set_broken();
                    return Err(PgError::Protocol(
                        "unexpected message in the replication stream".into(),
                    ));
                }
            }
        }
    }

    fn copy_data(&mut self, data: bytes::Bytes) -> Result<ReplicationMessage, PgError> {
        let be64 = |from: usize| -> Result<u64, PgError> {
            data.get(from..from + 8)
                .and_then(|s| <[u8; 8]>::try_from(s).ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| {
                    PgError::Protocol(format!(
                        "truncated replication message ({} bytes)",
                        data.len()
                    ))
                })
        };
        match data.first() {
            Some(b'w') => {
                let wal_start = Lsn(be64(1)?);
                let wal_end = Lsn(be64(9)?);
                let server_time_us = be64(17)? as i64;
                let payload = data.slice(25..);
                let decoded = PgOutput::decode(&payload).map_err(|e| match e {
                    PgError::Protocol(m) => PgError::Protocol(format!("{m} (at WAL {wal_start})")),
                    other => other,
                });
                let data = match decoded {
                    Ok(d) => d,
                    Err(e) => {
                        self.wire.set_broken();
                        return Err(e);
                    }
                };
                self.last_received = self.last_received.max(wal_start);
                Ok(ReplicationMessage::XLogData {
                    wal_start,
                    wal_end,
                    server_time_us,
                    data,
                })
            }
            Some(b'k') => {
                let wal_end = Lsn(be64(1)?);
                let server_time_us = be64(9)? as i64;
                let reply_requested = data.get(17).copied().unwrap_or(0) == 1;
                self.last_received = self.last_received.max(wal_end);
                Ok(ReplicationMessage::Keepalive {
                    wal_end,
                    server_time_us,
                    reply_requested,
                })
            }
            other => {
                self.wire.set_broken();
                Err(PgError::Protocol(format!(
                    "unknown replication message kind {:?}",
                    other.map(|b| char::from(*b))
                )))
            }
        }
    }

    /// Sends a standby status update: WAL received (`write`), durably
    /// processed (`flush`, which the server records as the slot's
    /// `confirmed_flush_lsn` and may discard WAL up to), and applied
    /// (`apply`). With `reply_requested` the server answers with a
    /// keepalive.
    pub fn send_standby_status(
        &mut self,
        write: Lsn,
        flush: Lsn,
        apply: Lsn,
        reply_requested: bool,
    ) -> Result<(), PgError> {
        self.wire.check_usable()?;
        let buf = self.wire.wbuf();
        buf.put_u8(b'd');
        buf.put_i32(4 + 1 + 8 * 4 + 1);
        buf.put_u8(b'r');
        buf.put_u64(write.0);
        buf.put_u64(flush.0);
        buf.put_u64(apply.0);
        buf.put_i64(pg_now_us());
        buf.put_u8(u8::from(reply_requested));
        self.wire.flush()
    }

    /// The answer to a keepalive with `reply_requested`: `write` =
    /// [`ReplicationStream::last_received`], `flush` and `apply` 0/0 (the
    /// slot does not move). See the type's docs.
    pub fn send_keepalive_reply(&mut self) -> Result<(), PgError> {
        let write = self.last_received;
        self.send_standby_status(write, Lsn::ZERO, Lsn::ZERO, false)
    }

    /// The highest WAL position seen in XLogData starts and keepalives (a
    /// natural `write` position for status updates), initially the start
    /// position given to `START_REPLICATION`.
    pub fn last_received(&self) -> Lsn {
        self.last_received
    }

    /// A parameter the server reported.
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.wire.parameter(name)
    }

    /// A handle to shut the stream's socket down from another thread: a
    /// blocked [`ReplicationStream::recv`] then returns an error at once.
    pub fn shutdown_handle(&self) -> Result<ShutdownHandle, PgError> {
        self.wire.shutdown_handle()
    }

    /// Ends the session (sends `Terminate`; the slot becomes free for the
    /// next session).
    pub fn close(self) {
        drop(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_names_follow_postgres_rules() {
        assert!(check_slot_name("debezium_1").is_ok());
        assert!(check_slot_name("").is_err());
        assert!(check_slot_name("Upper").is_err());
        assert!(check_slot_name("a-b").is_err());
        assert!(check_slot_name("x; DROP").is_err());
        assert!(check_slot_name(&"a".repeat(64)).is_err());
        assert!(check_word("plugin", "pgoutput").is_ok());
        assert!(check_word("plugin", "1x").is_err());
    }
}
