//! The transport shared by every session: the socket with timeouts, the
//! reused read/write buffers, and message framing (`mod.rs`); startup and
//! authentication (`startup.rs`); the simple-query loop (`query.rs`);
//! server errors and notices (`errors.rs`); and the handles another thread
//! uses to cancel or shut down a session (`handles.rs`).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::{md5_hash, sasl};
use postgres_protocol::message::backend::{ErrorFields, Message, RowDescriptionBody};
use postgres_protocol::message::frontend;

use super::rows::{Column, SimpleResult};
use super::{PgConfig, PgError};

/// Size of one socket read; the read buffer grows by at least this much.
const READ_CHUNK: usize = 64 * 1024;
/// Messages larger than this are treated as a protocol error (PostgreSQL's
/// own limit for a single field is 1 GB).
const MAX_MESSAGE_LEN: usize = 1 << 30;
/// Smallest socket timeout we set (a zero timeout is invalid for sockets).
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// One message from the server: the codec's, or one it does not know.
pub(crate) enum Backend {
    /// A message `postgres-protocol` parses.
    Msg(Message),
    /// `CopyBothResponse` (`W`): the replication stream has started.
    CopyBoth,
    /// A message we skip (e.g. `NegotiateProtocolVersion`).
    Skipped,
    /// A non-fatal `ErrorResponse` (fatal ones come back as `Err`).
    Error(PgError),
}

/// A connected, authenticated session: socket, reused buffers, server
/// parameters. Shared by [`PgConnection`] and the replication types.
pub(crate) struct Wire {
    stream: Stream,
    rbuf: BytesMut,
    /// Where socket reads land before they are appended to `rbuf`.
    scratch: Box<[u8]>,
    wbuf: BytesMut,
    /// The read timeout currently set on the socket.
    read_timeout: Option<Duration>,
    io_timeout: Option<Duration>,
    /// `host:port` or the Unix-domain socket's path, for messages.
    pub(crate) peer: String,
    /// Set when the session can no longer be used (fatal error, I/O error,
    /// timeout mid-exchange).
    broken: bool,
    /// Queries sent whose replies are not read yet ([`Wire::send_query`]).
    pub(crate) unread: usize,
    params: HashMap<String, String>,
    server_version_num: u32,
    tx_status: u8,
    /// Process id and secret key for cancel requests.
    backend_key: Option<(i32, i32)>,
    /// The address connected to, for cancel requests.
    addr: Target,
    connect_timeout: Duration,
}

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wire")
            .field("peer", &self.peer)
            .field("server_version_num", &self.server_version_num)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

fn proto(context: &str, e: impl std::fmt::Display) -> PgError {
    PgError::Protocol(format!("{context}: {e}"))
}

impl Wire {
    /// Connects, authenticates and waits for the first `ReadyForQuery`,
    /// with or without TLS as `sslmode` says (libpq's meanings: `allow`
    /// tries plain text first and TLS if the server refuses it; `prefer`
    /// tries TLS first and plain text if the server does not offer it or
    /// the handshake fails).
    pub(crate) fn connect(cfg: &PgConfig, replication: bool) -> Result<Wire, PgError> {
        let mode = SslMode::parse(&cfg.sslmode)?;
        // As libpq, sslmode means nothing on a Unix-domain socket.
        let tls = match socket::unix_socket_path(&cfg.host, cfg.port) {
            Some(_) => None,
            None => tls::client_config(cfg, mode)?,
        };
        let user = cfg.user.as_str();
        let result = match (mode, tls) {
            (SslMode::Disable, _) | (_, None) => {
                Wire::connect_once(cfg, replication, Attempt::Plain)
            }
            (SslMode::Allow, Some(tls)) => {
                match Wire::connect_once(cfg, replication, Attempt::Plain) {
                    Err(e) if refused_by_hba(&e) => {
                        tracing::debug!(peer = %peer_name(&cfg.host, cfg.port), "plain session refused (sslmode=allow); trying TLS");
                        Wire::connect_once(cfg, replication, Attempt::TlsRequired(tls))
                    }
                    other => other,
                }
            }
            (SslMode::Prefer, Some(tls)) => {
                match Wire::connect_once(cfg, replication, Attempt::TlsIfOffered(tls)) {
                    Err(e) if matches!(e, PgError::Tls(_)) || refused_by_hba(&e) => {
                        tracing::debug!(error = %e, "TLS session failed (sslmode=prefer); trying plain text");
                        Wire::connect_once(cfg, replication, Attempt::Plain)
                    }
                    other => other,
                }
            }
            (_, Some(tls)) => Wire::connect_once(cfg, replication, Attempt::TlsRequired(tls)),
        };
        result.map_err(|e| auth_error(e, user))
    }

    /// Whether the session is encrypted with TLS.
    pub(crate) fn is_tls(&self) -> bool {
        self.stream.is_tls()
    }

    /// One connection attempt.
    fn connect_once(cfg: &PgConfig, replication: bool, attempt: Attempt) -> Result<Wire, PgError> {
        let connect_timeout = cfg.connect_timeout.max(MIN_TIMEOUT);
        let deadline = Instant::now() + connect_timeout;
        let peer = peer_name(&cfg.host, cfg.port);
        let (socket, addr) = Socket::connect(&cfg.host, cfg.port, deadline)?;
        let stream = match (socket.into_tcp(), attempt) {
            // libpq ignores sslmode on a Unix-domain socket: the server
            // does not do TLS there.
            (Err(unix), _) => Stream::Plain(unix),
            (Ok(tcp), Attempt::Plain) => Stream::Plain(Socket::Tcp(tcp)),
            (Ok(tcp), Attempt::TlsIfOffered(tls)) => {
                match tls::negotiate(tcp, tls, cfg, &peer, deadline)? {
                    Negotiated::Tls(s) => s,
                    Negotiated::Refused(s) => Stream::Plain(Socket::Tcp(s)),
                }
            }
            (Ok(tcp), Attempt::TlsRequired(tls)) => {
                match tls::negotiate(tcp, tls, cfg, &peer, deadline)? {
                    Negotiated::Tls(s) => s,
                    Negotiated::Refused(_) => {
                        return Err(PgError::Tls(format!(
                            "{peer} does not support TLS, but sslmode={} requires it",
                            cfg.sslmode
                        )))
                    }
                }
            }
        };
        stream
            .set_write_timeout(Some(connect_timeout))
            .map_err(|e| PgError::io(format!("could not configure the socket to {peer}"), e))?;
        let mut wire = Wire {
            stream,
            rbuf: BytesMut::with_capacity(4 * READ_CHUNK),
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            wbuf: BytesMut::with_capacity(1024),
            read_timeout: None,
            io_timeout: cfg.io_timeout.map(|t| t.max(MIN_TIMEOUT)),
            peer,
            broken: false,
            unread: 0,
            params: HashMap::new(),
            server_version_num: 0,
            tx_status: b'I',
            backend_key: None,
            addr,
            connect_timeout,
        };
        wire.startup(cfg, replication, deadline)?;
        let io_timeout = wire.io_timeout;
        wire.stream.set_write_timeout(io_timeout).map_err(|e| {
            PgError::io(
                format!("could not configure the socket to {}", wire.peer),
                e,
            )
        })?;
        wire.server_version_num = wire
            .params
            .get("server_version")
            .map(|v| parse_server_version(v))
            .unwrap_or(0);
        Ok(wire)
    }

    /// Fails with [`PgError::Closed`] once the session is unusable.
    pub(crate) fn check_usable(&self) -> Result<(), PgError> {
        if self.broken {
            Err(PgError::Closed)
        } else {
            Ok(())
        }
    }

    /// Marks the session unusable.
    pub(crate) fn set_broken(&mut self) {
        self.broken = true;
    }

    /// The buffer outgoing messages are serialized into; [`Wire::flush`]
    /// sends it.
    pub(crate) fn wbuf(&mut self) -> &mut BytesMut {
        &mut self.wbuf
    }

    /// Sends everything in the write buffer.
    pub(crate) fn flush(&mut self) -> Result<(), PgError> {
        self.check_usable()?;
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let res = self.stream.send(&self.wbuf);
        self.wbuf.clear();
        res.map_err(|e| {
            self.broken = true;
            match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => PgError::Timeout,
                _ => PgError::io(format!("lost the connection to {}", self.peer), e),
            }
        })
    }

    fn set_read_timeout(&mut self, t: Option<Duration>) -> Result<(), PgError> {
        if self.read_timeout != t {
            self.stream.set_read_timeout(t).map_err(|e| {
                PgError::io(
                    format!("could not configure the socket to {}", self.peer),
                    e,
                )
            })?;
            self.read_timeout = t;
        }
        Ok(())
    }

    /// One socket read into the read buffer. `Ok(false)` if it timed out.
    ///
    /// Reads land in a fixed scratch block and are appended to the read
    /// buffer: one copy of the bytes read, instead of zeroing spare capacity
    /// for every read (the socket API wants initialized memory).
    fn fill(&mut self, timeout: Option<Duration>) -> Result<bool, PgError> {
        self.set_read_timeout(timeout.map(|t| t.max(MIN_TIMEOUT)))?;
        let res = self.stream.recv(&mut self.scratch[..]);
        match res {
            Ok(0) => {
                self.broken = true;
                Err(PgError::Closed)
            }
            Ok(n) => {
                if self.rbuf.capacity() - self.rbuf.len() < n {
                    // Decoded messages may still share the old block; start
                    // a new one big enough for many reads.
                    self.rbuf.reserve(n.max(READ_CHUNK));
                }
                self.rbuf.extend_from_slice(&self.scratch[..n]);
                Ok(true)
            }
            Err(e) => match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Ok(false),
                io::ErrorKind::Interrupted => Ok(true),
                _ => {
                    self.broken = true;
                    Err(PgError::io(
                        format!("lost the connection to {}", self.peer),
                        e,
                    ))
                }
            },
        }
    }

    /// Cuts one complete message out of the read buffer, if there is one.
    fn try_parse(&mut self) -> Result<Option<Backend>, PgError> {
        if self.rbuf.len() < 5 {
            return Ok(None);
        }
        let tag = self.rbuf[0];
        let len =
            u32::from_be_bytes([self.rbuf[1], self.rbuf[2], self.rbuf[3], self.rbuf[4]]) as usize;
        if !(4..=MAX_MESSAGE_LEN).contains(&len) {
            self.broken = true;
            return Err(PgError::Protocol(format!(
                "message {:?} with invalid length {len}",
                char::from(tag)
            )));
        }
        if self.rbuf.len() < len + 1 {
            self.rbuf.reserve(len + 1 - self.rbuf.len());
            return Ok(None);
        }
        match tag {
            b'W' => {
                let _ = self.rbuf.split_to(len + 1);
                Ok(Some(Backend::CopyBoth))
            }
            // NegotiateProtocolVersion: we ask for nothing optional, so there
            // is nothing to adjust.
            b'v' => {
                let _ = self.rbuf.split_to(len + 1);
                Ok(Some(Backend::Skipped))
            }
            _ => match Message::parse(&mut self.rbuf) {
                Ok(Some(m)) => Ok(Some(Backend::Msg(m))),
                Ok(None) => Ok(None),
                Err(e) => {
                    self.broken = true;
                    Err(proto(
                        &format!("message {:?} from {}", char::from(tag), self.peer),
                        e,
                    ))
                }
            },
        }
    }

    /// The next message that needs the caller's attention; notices are
    /// logged and parameter changes recorded on the way.
    ///
    /// With a deadline: `Ok(None)` when it passes. Without: each read waits
    /// up to the configured I/O timeout, and running out is
    /// [`PgError::Timeout`] (the session is then unusable).
    pub(crate) fn next_until(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Option<Backend>, PgError> {
        self.check_usable()?;
        loop {
            while let Some(msg) = self.try_parse()? {
                match msg {
                    Backend::Msg(Message::NoticeResponse(body)) => log_notice(body.fields()),
                    Backend::Msg(Message::ParameterStatus(body)) => {
                        if let (Ok(name), Ok(value)) = (body.name(), body.value()) {
                            self.params.insert(name.to_string(), value.to_string());
                        }
                    }
                    Backend::Msg(Message::NotificationResponse(_)) => {}
                    Backend::Msg(Message::ErrorResponse(body)) => {
                        let err = server_error(body.fields());
                        if let PgError::Server { severity, .. } = &err {
                            if severity == "FATAL" || severity == "PANIC" {
                                // The server closes the session after this.
                                self.broken = true;
                                return Err(err);
                            }
                        }
                        return Ok(Some(Backend::Error(err)));
                    }
                    other => return Ok(Some(other)),
                }
            }
            let timeout = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    Some(left)
                }
                None => self.io_timeout,
            };
            if !self.fill(timeout)? {
                if deadline.is_none() {
                    self.broken = true;
                    return Err(PgError::Timeout);
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(None);
                }
            }
        }
    }

    /// [`Wire::next_until`] without a deadline.
    pub(crate) fn next(&mut self) -> Result<Backend, PgError> {
        match self.next_until(None)? {
            Some(m) => Ok(m),
            None => {
                self.broken = true;
                Err(PgError::Timeout)
            }
        }
    }

    pub(crate) fn parameter(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    pub(crate) fn server_version_num(&self) -> u32 {
        self.server_version_num
    }

    pub(crate) fn transaction_status(&self) -> u8 {
        self.tx_status
    }

    /// A handle that can shut the socket down from another thread.
    pub(crate) fn shutdown_handle(&self) -> Result<ShutdownHandle, PgError> {
        let stream = self
            .stream
            .try_clone_socket()
            .map_err(|e| PgError::io(format!("could not clone the socket to {}", self.peer), e))?;
        Ok(ShutdownHandle { stream })
    }

    /// A token to cancel the running query from another thread.
    pub(crate) fn cancel_token(&self) -> Option<CancelToken> {
        self.backend_key
            .map(|(process_id, secret_key)| CancelToken {
                addr: self.addr.clone(),
                process_id,
                secret_key,
                connect_timeout: self.connect_timeout,
            })
    }

    /// Sends `Terminate` (best effort) and marks the session closed.
    pub(crate) fn terminate(&mut self) {
        if !self.broken {
            frontend::terminate(&mut self.wbuf);
            let _ = self.flush();
            self.broken = true;
        }
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// The server refused the session for its address, user and encryption
/// (`pg_hba.conf` has no entry: SQLSTATE 28000), as opposed to a wrong
/// password (28P01): worth another try with or without TLS.
fn refused_by_hba(e: &PgError) -> bool {
    matches!(e, PgError::Server { code, .. } if code == "28000")
}

/// A name for messages we did not expect, for error texts.
fn message_name(m: &Message) -> &'static str {
    match m {
        Message::BindComplete => "BindComplete",
        Message::CloseComplete => "CloseComplete",
        Message::CommandComplete(_) => "CommandComplete",
        Message::CopyData(_) => "CopyData",
        Message::CopyDone => "CopyDone",
        Message::CopyInResponse(_) => "CopyInResponse",
        Message::CopyOutResponse(_) => "CopyOutResponse",
        Message::DataRow(_) => "DataRow",
        Message::EmptyQueryResponse => "EmptyQueryResponse",
        Message::ErrorResponse(_) => "ErrorResponse",
        Message::NoData => "NoData",
        Message::ParameterDescription(_) => "ParameterDescription",
        Message::ParseComplete => "ParseComplete",
        Message::PortalSuspended => "PortalSuspended",
        Message::ReadyForQuery(_) => "ReadyForQuery",
        Message::RowDescription(_) => "RowDescription",
        Message::BackendKeyData(_) => "BackendKeyData",
        _ => "message",
    }
}

/// `server_version` (`15.4 (Debian 15.4-1)`, `9.6.24`, `17beta1`) as
/// `server_version_num` (150004, 90624, 170000); 0 if unparseable.
pub(crate) fn parse_server_version(v: &str) -> u32 {
    let mut parts = [0u32; 3];
    let mut idx = 0;
    let mut seen_digit = false;
    for c in v.chars() {
        if let Some(d) = c.to_digit(10) {
            parts[idx] = parts[idx].saturating_mul(10).saturating_add(d);
            seen_digit = true;
        } else if c == '.' && seen_digit && idx < 2 {
            idx += 1;
            seen_digit = false;
        } else {
            break;
        }
    }
    let [major, minor, patch] = parts;
    if major >= 10 {
        major * 10000 + minor
    } else {
        major * 10000 + minor * 100 + patch
    }
}

mod errors;
mod handles;
mod query;
mod socket;
mod startup;
mod tls;

use socket::{peer_name, Socket, Target};
use startup::auth_error;
use tls::{Attempt, Negotiated, SslMode, Stream};

pub(crate) use errors::*;
pub use handles::{CancelToken, ShutdownHandle};
pub(crate) use query::{QuerySink, RowsTo};

#[cfg(test)]
mod tests;
