//! The transport shared by every session: the socket with timeouts, the
//! reused read/write buffers, startup and authentication, message framing,
//! and the simple-query loop.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
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
/// What the simple-query loop hands out, statement by statement.
pub(crate) trait QuerySink {
    /// A statement's result columns.
    fn columns(&mut self, columns: &[Column]);
    /// One row of the current statement, values in text format.
    fn row(&mut self, columns: &[Column], values: &[Option<&[u8]>]) -> Result<(), PgError>;
    /// A statement finished with this command tag.
    fn complete(&mut self, tag: &str);
}

/// Collects [`SimpleResult`]s.
#[derive(Default)]
struct Collect {
    results: Vec<SimpleResult>,
    current: SimpleResult,
}

impl QuerySink for Collect {
    fn columns(&mut self, columns: &[Column]) {
        self.current.columns = columns.to_vec();
    }

    fn row(&mut self, _columns: &[Column], values: &[Option<&[u8]>]) -> Result<(), PgError> {
        let row = values
            .iter()
            .map(|v| v.map(|b| String::from_utf8_lossy(b).into_owned()))
            .collect();
        self.current.rows.push(row);
        Ok(())
    }

    fn complete(&mut self, tag: &str) {
        let mut done = std::mem::take(&mut self.current);
        done.command_tag = tag.to_string();
        self.results.push(done);
    }
}

/// Hands rows to a closure.
pub(crate) struct RowsTo<F>(pub(crate) F);

impl<F> QuerySink for RowsTo<F>
where
    F: FnMut(&[Column], &[Option<&[u8]>]) -> Result<(), PgError>,
{
    fn columns(&mut self, _columns: &[Column]) {}

    fn row(&mut self, columns: &[Column], values: &[Option<&[u8]>]) -> Result<(), PgError> {
        (self.0)(columns, values)
    }

    fn complete(&mut self, _tag: &str) {}
}

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
    stream: TcpStream,
    rbuf: BytesMut,
    /// Where socket reads land before they are appended to `rbuf`.
    scratch: Box<[u8]>,
    wbuf: BytesMut,
    /// The read timeout currently set on the socket.
    read_timeout: Option<Duration>,
    io_timeout: Option<Duration>,
    /// `host:port`, for messages.
    pub(crate) peer: String,
    /// Set when the session can no longer be used (fatal error, I/O error,
    /// timeout mid-exchange).
    broken: bool,
    params: HashMap<String, String>,
    server_version_num: u32,
    tx_status: u8,
    /// Process id and secret key for cancel requests.
    backend_key: Option<(i32, i32)>,
    /// The address connected to, for cancel requests.
    addr: SocketAddr,
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
    /// Connects, authenticates and waits for the first `ReadyForQuery`.
    pub(crate) fn connect(cfg: &PgConfig, replication: bool) -> Result<Wire, PgError> {
        match cfg.sslmode.as_str() {
            "disable" | "allow" | "prefer" => {}
            "require" | "verify-ca" | "verify-full" => {
                return Err(PgError::Tls(format!(
                    "TLS is not supported by this PostgreSQL client, but sslmode={} requires it; \
                     use sslmode=disable or prefer (connections to {}:{} are then unencrypted)",
                    cfg.sslmode, cfg.host, cfg.port
                )));
            }
            other => {
                return Err(PgError::Config(format!(
                    "unknown sslmode {other:?}; expected disable, allow, prefer, require, \
                     verify-ca or verify-full"
                )));
            }
        }
        let connect_timeout = cfg.connect_timeout.max(MIN_TIMEOUT);
        let deadline = Instant::now() + connect_timeout;
        let peer = format!("{}:{}", cfg.host, cfg.port);
        let addrs: Vec<SocketAddr> = (cfg.host.as_str(), cfg.port)
            .to_socket_addrs()
            .map_err(|e| PgError::io(format!("could not resolve {}", cfg.host), e))?
            .collect();
        let mut last_err = None;
        let mut stream = None;
        for addr in &addrs {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(MIN_TIMEOUT);
            match TcpStream::connect_timeout(addr, left) {
                Ok(s) => {
                    stream = Some((s, *addr));
                    break;
                }
                Err(e) => last_err = Some(e),
            }
        }
        let (stream, addr) = match stream {
            Some(s) => s,
            None => {
                let e = last_err.unwrap_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, "host resolved to no address")
                });
                return Err(PgError::io(format!("could not connect to {peer}"), e));
            }
        };
        let _ = stream.set_nodelay(true);
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

    fn startup(
        &mut self,
        cfg: &PgConfig,
        replication: bool,
        deadline: Instant,
    ) -> Result<(), PgError> {
        let mut params: Vec<(&str, &str)> = vec![
            ("user", cfg.user.as_str()),
            ("database", cfg.dbname.as_str()),
            ("application_name", cfg.application_name.as_str()),
            ("client_encoding", "UTF8"),
            ("DateStyle", "ISO, MDY"),
            ("TimeZone", "UTC"),
            ("IntervalStyle", "postgres"),
            ("extra_float_digits", "3"),
        ];
        if replication {
            params.push(("replication", "database"));
        }
        for (k, v) in &cfg.extra_params {
            params.retain(|(name, _)| name != k);
            params.push((k.as_str(), v.as_str()));
        }
        frontend::startup_message(params.iter().copied(), &mut self.wbuf)
            .map_err(|e| PgError::Config(format!("startup parameters: {e}")))?;
        self.flush()?;

        let user = cfg.user.as_str();
        let auth_err = |message: String| PgError::Auth {
            user: user.to_string(),
            message,
        };
        let password = || {
            cfg.password.as_deref().ok_or_else(|| {
                auth_err(format!(
                    "the server requires a password for user \"{user}\", but none is configured"
                ))
            })
        };
        let mut scram: Option<sasl::ScramSha256> = None;
        loop {
            let msg = match self.next_until(Some(deadline)) {
                Ok(Some(m)) => m,
                Ok(None) => {
                    self.broken = true;
                    return Err(PgError::Timeout);
                }
                Err(e) => return Err(auth_error(e, user)),
            };
            let msg = match msg {
                Backend::Msg(m) => m,
                Backend::Error(e) => {
                    self.broken = true;
                    return Err(auth_error(e, user));
                }
                Backend::CopyBoth => {
                    self.broken = true;
                    return Err(PgError::Protocol(
                        "unexpected CopyBothResponse during startup".into(),
                    ));
                }
                Backend::Skipped => continue,
            };
            match msg {
                Message::AuthenticationOk => {}
                Message::AuthenticationCleartextPassword => {
                    frontend::password_message(password()?.as_bytes(), &mut self.wbuf)
                        .map_err(|e| PgError::Config(format!("password: {e}")))?;
                    self.flush()?;
                }
                Message::AuthenticationMd5Password(body) => {
                    let hash = md5_hash(user.as_bytes(), password()?.as_bytes(), body.salt());
                    frontend::password_message(hash.as_bytes(), &mut self.wbuf)
                        .map_err(|e| PgError::Config(format!("password: {e}")))?;
                    self.flush()?;
                }
                Message::AuthenticationSasl(body) => {
                    let mut offered = Vec::new();
                    let mut mechanisms = body.mechanisms();
                    while let Some(m) = mechanisms
                        .next()
                        .map_err(|e| proto("SASL mechanism list", e))?
                    {
                        offered.push(m.to_string());
                    }
                    if !offered.iter().any(|m| m == sasl::SCRAM_SHA_256) {
                        return Err(auth_err(format!(
                            "the server offers SASL mechanisms {offered:?} for user \"{user}\"; \
                             this client supports only {}",
                            sasl::SCRAM_SHA_256
                        )));
                    }
                    let s = sasl::ScramSha256::new(
                        password()?.as_bytes(),
                        sasl::ChannelBinding::unsupported(),
                    );
                    frontend::sasl_initial_response(
                        sasl::SCRAM_SHA_256,
                        s.message(),
                        &mut self.wbuf,
                    )
                    .map_err(|e| proto("SASL initial response", e))?;
                    self.flush()?;
                    scram = Some(s);
                }
                Message::AuthenticationSaslContinue(body) => {
                    let s = scram.as_mut().ok_or_else(|| {
                        PgError::Protocol("SASL continue without a SASL exchange".into())
                    })?;
                    s.update(body.data()).map_err(|e| {
                        auth_err(format!(
                            "SCRAM-SHA-256 exchange for user \"{user}\" failed: {e}"
                        ))
                    })?;
                    frontend::sasl_response(s.message(), &mut self.wbuf)
                        .map_err(|e| proto("SASL response", e))?;
                    self.flush()?;
                }
                Message::AuthenticationSaslFinal(body) => {
                    let s = scram.as_mut().ok_or_else(|| {
                        PgError::Protocol("SASL final without a SASL exchange".into())
                    })?;
                    s.finish(body.data()).map_err(|e| {
                        auth_err(format!(
                            "the server's SCRAM-SHA-256 signature for user \"{user}\" \
                             did not verify: {e}"
                        ))
                    })?;
                }
                Message::AuthenticationKerberosV5
                | Message::AuthenticationScmCredential
                | Message::AuthenticationGss
                | Message::AuthenticationGssContinue(_)
                | Message::AuthenticationSspi => {
                    self.broken = true;
                    return Err(auth_err(format!(
                        "the server asks user \"{user}\" for an authentication method this \
                         client does not support (Kerberos/GSSAPI/SSPI/SCM); use password, \
                         md5 or scram-sha-256 in pg_hba.conf"
                    )));
                }
                Message::BackendKeyData(body) => {
                    self.backend_key = Some((body.process_id(), body.secret_key()));
                }
                Message::ReadyForQuery(body) => {
                    self.tx_status = body.status();
                    return Ok(());
                }
                other => {
                    self.broken = true;
                    return Err(PgError::Protocol(format!(
                        "unexpected {} during startup",
                        message_name(&other)
                    )));
                }
            }
        }
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
        let res = self.stream.write_all(&self.wbuf);
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
        let res = self.stream.read(&mut self.scratch[..]);
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

    /// Runs `sql` with the simple-query protocol, handing results to `sink`,
    /// and reads up to `ReadyForQuery` even after an error, so the session
    /// stays usable. The first error (the server's or the sink's) is
    /// returned.
    pub(crate) fn query(&mut self, sql: &str, sink: &mut dyn QuerySink) -> Result<(), PgError> {
        self.check_usable()?;
        frontend::query(sql, &mut self.wbuf).map_err(|e| {
            PgError::Config(format!(
                "query text cannot be sent ({e}): {}",
                abbreviate(sql)
            ))
        })?;
        self.flush()?;
        let mut columns: Vec<Column> = Vec::new();
        let mut first_err: Option<PgError> = None;
        loop {
            let msg = match self.next()? {
                Backend::Msg(m) => m,
                Backend::Skipped => continue,
                Backend::Error(e) => {
                    first_err.get_or_insert(e);
                    continue;
                }
                Backend::CopyBoth => {
                    self.broken = true;
                    return Err(PgError::Protocol(
                        "the server started a replication stream; use \
                         ReplicationConnection::start_logical_replication for START_REPLICATION"
                            .into(),
                    ));
                }
            };
            match msg {
                Message::RowDescription(body) => {
                    columns = parse_columns(&body)?;
                    sink.columns(&columns);
                }
                Message::DataRow(row) => {
                    if first_err.is_some() {
                        continue;
                    }
                    let buf = row.buffer();
                    let values: Vec<Option<&[u8]>> = row
                        .ranges()
                        .map(|r| match r {
                            None => Ok(None),
                            Some(r) => buf.get(r).map(Some).ok_or_else(|| {
                                io::Error::new(io::ErrorKind::InvalidData, "value out of bounds")
                            }),
                        })
                        .collect()
                        .map_err(|e| {
                            self.broken = true;
                            proto("DataRow", e)
                        })?;
                    if values.len() != columns.len() {
                        self.broken = true;
                        return Err(PgError::Protocol(format!(
                            "DataRow with {} values for {} columns",
                            values.len(),
                            columns.len()
                        )));
                    }
                    if let Err(e) = sink.row(&columns, &values) {
                        first_err = Some(e);
                    }
                }
                Message::CommandComplete(body) => {
                    let tag = body.tag().map_err(|e| proto("CommandComplete", e))?;
                    sink.complete(tag);
                    columns.clear();
                }
                Message::EmptyQueryResponse => {}
                Message::CopyInResponse(_) => {
                    frontend::copy_fail(
                        "COPY FROM STDIN is not supported by this client",
                        &mut self.wbuf,
                    )
                    .map_err(|e| proto("CopyFail", e))?;
                    self.flush()?;
                }
                Message::CopyOutResponse(_) | Message::CopyData(_) | Message::CopyDone => {}
                Message::ReadyForQuery(body) => {
                    self.tx_status = body.status();
                    break;
                }
                other => {
                    self.broken = true;
                    return Err(PgError::Protocol(format!(
                        "unexpected {} in reply to a query",
                        message_name(&other)
                    )));
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// All statements' results of `sql`.
    pub(crate) fn simple_query(&mut self, sql: &str) -> Result<Vec<SimpleResult>, PgError> {
        let mut sink = Collect::default();
        self.query(sql, &mut sink)?;
        Ok(sink.results)
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
            .try_clone()
            .map_err(|e| PgError::io(format!("could not clone the socket to {}", self.peer), e))?;
        Ok(ShutdownHandle { stream })
    }

    /// A token to cancel the running query from another thread.
    pub(crate) fn cancel_token(&self) -> Option<CancelToken> {
        self.backend_key
            .map(|(process_id, secret_key)| CancelToken {
                addr: self.addr,
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

/// A server error during startup about credentials (class 28) becomes
/// [`PgError::Auth`], naming the user.
fn auth_error(err: PgError, user: &str) -> PgError {
    match err {
        PgError::Server { code, message, .. } if code.starts_with("28") => {
            let message = if message.contains(user) {
                message
            } else {
                format!("{message} (user \"{user}\")")
            };
            PgError::Auth {
                user: user.to_string(),
                message,
            }
        }
        other => other,
    }
}

/// Converts an `ErrorResponse`'s fields into [`PgError::Server`].
pub(crate) fn server_error(mut fields: ErrorFields<'_>) -> PgError {
    let mut severity = None;
    let mut localized = None;
    let mut code = String::new();
    let mut message = String::new();
    let mut detail = None;
    let mut hint = None;
    loop {
        match fields.next() {
            Ok(Some(f)) => {
                let v = String::from_utf8_lossy(f.value_bytes()).into_owned();
                match f.type_() {
                    b'V' => severity = Some(v),
                    b'S' => localized = Some(v),
                    b'C' => code = v,
                    b'M' => message = v,
                    b'D' => detail = Some(v),
                    b'H' => hint = Some(v),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(e) => return proto("ErrorResponse", e),
        }
    }
    PgError::Server {
        severity: severity
            .or(localized)
            .unwrap_or_else(|| "ERROR".to_string()),
        code,
        message,
        detail,
        hint,
    }
}

fn log_notice(fields: ErrorFields<'_>) {
    if let PgError::Server {
        severity,
        code,
        message,
        ..
    } = server_error(fields)
    {
        match severity.as_str() {
            "WARNING" => tracing::warn!(sqlstate = %code, "PostgreSQL: {message}"),
            "DEBUG" | "LOG" => tracing::debug!(sqlstate = %code, "PostgreSQL: {message}"),
            _ => tracing::info!(sqlstate = %code, "PostgreSQL: {message}"),
        }
    }
}

fn parse_columns(body: &RowDescriptionBody) -> Result<Vec<Column>, PgError> {
    body.fields()
        .map(|f| {
            Ok(Column {
                name: f.name().to_string(),
                type_oid: f.type_oid(),
                type_modifier: f.type_modifier(),
                table_oid: f.table_oid(),
                column_id: f.column_id(),
            })
        })
        .collect()
        .map_err(|e| proto("RowDescription", e))
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

fn abbreviate(sql: &str) -> String {
    const MAX: usize = 200;
    if sql.len() <= MAX {
        return sql.to_string();
    }
    let mut end = MAX;
    while !sql.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &sql[..end])
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

/// Shuts a session's socket down from another thread (e.g. a task's
/// `stop()`): a call blocked in a read returns at once with an error whose
/// [`PgError::is_connection_lost`] is true, and the session is unusable
/// afterwards. Cloneable; holding it keeps the socket's file descriptor open.
#[derive(Debug)]
pub struct ShutdownHandle {
    stream: TcpStream,
}

impl ShutdownHandle {
    /// Shuts both directions of the socket down. Idempotent.
    pub fn shutdown(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// Asks the server to cancel the query a session is running (PostgreSQL's
/// `CancelRequest`, sent on a new connection), e.g. a long snapshot read
/// from another thread. The cancelled query fails with SQLSTATE `57014`; the
/// session stays usable. A no-op if nothing is running.
#[derive(Clone, Debug)]
pub struct CancelToken {
    addr: SocketAddr,
    process_id: i32,
    secret_key: i32,
    connect_timeout: Duration,
}

impl CancelToken {
    /// Sends the cancel request (best effort on the server's side).
    pub fn cancel(&self) -> Result<(), PgError> {
        let mut stream = TcpStream::connect_timeout(&self.addr, self.connect_timeout)
            .map_err(|e| PgError::io(format!("could not connect to {}", self.addr), e))?;
        let mut buf = BytesMut::with_capacity(16);
        frontend::cancel_request(self.process_id, self.secret_key, &mut buf);
        let _ = stream.set_write_timeout(Some(self.connect_timeout));
        stream.write_all(&buf).map_err(|e| {
            PgError::io(
                format!("could not send a cancel request to {}", self.addr),
                e,
            )
        })?;
        // The server closes the connection when done; wait for that so the
        // request is processed before we return.
        let _ = stream.set_read_timeout(Some(self.connect_timeout));
        let mut sink = [0u8; 16];
        let _ = stream.read(&mut sink);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_version_parses_like_server_version_num() {
        assert_eq!(
            parse_server_version("15.4 (Debian 15.4-1.pgdg120+1)"),
            150004
        );
        assert_eq!(parse_server_version("9.6.24"), 90624);
        assert_eq!(parse_server_version("17beta1"), 170000);
        assert_eq!(parse_server_version("16.0"), 160000);
        assert_eq!(parse_server_version("garbage"), 0);
    }

    /// A one-shot fake server: reads the startup message, then writes
    /// `reply` and closes. For malformed input only; real behaviour is
    /// tested against PostgreSQL in `tests/pg_client.rs`.
    fn fake_server(reply: Vec<u8>) -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            if let Ok((mut sock, _)) = listener.accept() {
                let mut len = [0u8; 4];
                if sock.read_exact(&mut len).is_ok() {
                    let mut rest = vec![0u8; (u32::from_be_bytes(len) as usize).saturating_sub(4)];
                    let _ = sock.read_exact(&mut rest);
                }
                let _ = sock.write_all(&reply);
            }
        });
        port
    }

    fn connect_to(port: u16) -> Result<Wire, PgError> {
        let cfg = PgConfig {
            host: "127.0.0.1".into(),
            port,
            connect_timeout: Duration::from_secs(5),
            ..PgConfig::default()
        };
        Wire::connect(&cfg, false)
    }

    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn malformed_server_input_is_an_error_not_a_panic() {
        let auth_ok = msg(b'R', &0i32.to_be_bytes());
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("garbage tag", b"\x01\x00\x00\x00\x08abcd".to_vec()),
            ("length below 4", vec![b'R', 0, 0, 0, 2]),
            ("length above 1 GiB", vec![b'd', 0x7f, 0xff, 0xff, 0xff]),
            ("unknown auth method", msg(b'R', &99i32.to_be_bytes())),
            ("truncated auth", msg(b'R', &[0, 0])),
            (
                "SASL without SCRAM",
                msg(b'R', b"\x00\x00\x00\x0aOTHER\x00\x00"),
            ),
            ("closed after auth", auth_ok.clone()),
            ("nothing", Vec::new()),
        ];
        for (what, reply) in cases {
            let err = connect_to(fake_server(reply));
            assert!(err.is_err(), "{what}: connected");
        }
        // A password request without a configured password names the user.
        let err = connect_to(fake_server(msg(b'R', &3i32.to_be_bytes())))
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("requires a password for user \"postgres\"")),
            "{err:?}"
        );
        // A server that closes mid-startup: the session is lost, not wedged.
        let err = connect_to(fake_server(Vec::new())).err();
        assert!(err.is_some_and(|e| e.is_connection_lost()));
    }

    #[test]
    fn long_sql_is_abbreviated_on_a_char_boundary() {
        let sql = "é".repeat(300);
        let short = abbreviate(&sql);
        assert!(short.len() < 210);
        assert!(short.ends_with('…'));
    }
}
