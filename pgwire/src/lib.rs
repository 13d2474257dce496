//! # timely-connect-pgwire
//!
//! A small synchronous PostgreSQL client: ordinary sessions (simple-query
//! protocol, streamed result rows for snapshots) and logical-replication
//! sessions (slot management, `START_REPLICATION`, `pgoutput` decoding,
//! standby status updates).
//!
//! # Why our own client
//!
//! Connector tasks run on their own threads and block, as in Kafka Connect
//! (see the crate's task runtime), so an async client would only add a
//! runtime to drive. The message codec and the authentication exchanges
//! (SCRAM-SHA-256, MD5) come from the maintained `postgres-protocol` crate;
//! what is left — a blocking [`std::net::TcpStream`] (or, for a host that
//! is a directory, libpq's Unix-domain socket) with timeouts, the
//! startup/auth loop, the simple-query loop and the replication
//! sub-protocol (CopyBoth, XLogData, primary keepalive, standby status
//! update) plus the `pgoutput` message format — is small and lives here.
//!
//! # Pieces
//!
//! - [`PgConfig`]: where and how to connect.
//! - [`PgConnection`]: an ordinary session — [`PgConnection::simple_query`],
//!   [`PgConnection::query_rows`] (streams rows without collecting them),
//!   [`PgConnection::send_query`] / [`PgConnection::receive_rows`]
//!   (pipelined queries: the server works on the next while the client
//!   reads this one's rows).
//! - [`ReplicationConnection`]: a `replication=database` session —
//!   `IDENTIFY_SYSTEM`, `CREATE_REPLICATION_SLOT … LOGICAL`,
//!   `DROP_REPLICATION_SLOT`, plain SQL, and
//!   [`ReplicationConnection::start_logical_replication`], which turns it into
//!   a [`ReplicationStream`].
//! - [`pgoutput`]: decoding of the `pgoutput` plugin's messages
//!   (protocol version 1) into [`PgOutput`].
//! - [`CancelToken`] (cancel a running query) and [`ShutdownHandle`] (wake a
//!   blocked read by closing the socket), both usable from another thread.
//! - [`Lsn`], [`PgError`].
//!
//! Files: `transport.rs` (socket, buffers, startup/auth, framing, query
//! loop), `rows.rs` (columns and simple-query results), `conn.rs`
//! (ordinary sessions), `replication.rs` (replication
//! sessions and the stream), `pgoutput.rs`, `lsn.rs`, `error.rs`.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use timely_connect_pgwire::*;
//!
//! # fn main() -> Result<(), PgError> {
//! let cfg = PgConfig::new("127.0.0.1", 5432, "postgres", "app").with_password("secret");
//!
//! // Slot + exported snapshot; read the snapshot on an ordinary session
//! // while the replication session stays idle.
//! let mut repl = ReplicationConnection::connect(&cfg)?;
//! let slot = repl.create_logical_slot("my_slot", "pgoutput", false, SnapshotAction::Export)?;
//! let mut snap = PgConnection::connect(&cfg)?;
//! if let Some(name) = &slot.snapshot_name {
//!     snap.execute(&format!(
//!         "BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT {}",
//!         quote_literal(name)
//!     ))?;
//! }
//! snap.query_rows("SELECT * FROM public.orders", |columns, values| {
//!     // values[i]: Option<&[u8]> in text format
//!     Ok(())
//! })?;
//! snap.execute("COMMIT")?;
//!
//! // Stream changes committed after the slot's consistent point.
//! let mut stream = repl.start_logical_replication(
//!     "my_slot",
//!     Lsn::ZERO,
//!     &[("proto_version", "1"), ("publication_names", "my_pub")],
//! )?;
//! loop {
//!     match stream.recv(Duration::from_secs(1))? {
//!         Some(ReplicationMessage::XLogData { data: PgOutput::Commit { end_lsn, .. }, .. }) => {
//!             // ... once everything up to end_lsn is durable downstream:
//!             stream.send_standby_status(end_lsn, end_lsn, end_lsn, false)?;
//!         }
//!         Some(ReplicationMessage::XLogData { data, .. }) => { /* Begin, Relation, Insert, … */ }
//!         Some(ReplicationMessage::Keepalive { reply_requested: true, .. }) => {
//!             stream.send_keepalive_reply()?;
//!         }
//!         _ => {}
//!     }
//! }
//! # }
//! ```
//!
//! # Session settings
//!
//! Every session starts with `client_encoding=UTF8`, `DateStyle=ISO, MDY`,
//! `TimeZone=UTC`, `IntervalStyle=postgres` and `extra_float_digits=3`, so
//! text-format values (in query results and in `pgoutput` tuples, which the
//! walsender renders with the replication session's settings) have one
//! fixed, parseable shape. [`PgConfig::extra_params`] adds or overrides
//! startup parameters.
//!
//! # TLS
//!
//! With `rustls` (the `ring` provider), for ordinary and replication
//! sessions alike, with libpq's `sslmode` meanings:
//!
//! | `sslmode` | TLS | server certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `allow` | only if the server refuses a plain session (`pg_hba.conf`) | not checked |
//! | `prefer` (default) | if the server offers it; plain text if not, or if the handshake fails | not checked |
//! | `require` | always, or fail | not checked, unless a root certificate is configured (or `~/.postgresql/root.crt` exists): then as `verify-ca` |
//! | `verify-ca` | always | chains to a root in [`PgConfig::sslrootcert`] |
//! | `verify-full` | always | as `verify-ca`, and names [`PgConfig::host`] |
//!
//! [`PgConfig::sslcert`] and [`PgConfig::sslkey`] present a client
//! certificate (`pg_hba.conf` method `cert`, or `clientcert=verify-full`).
//! Differences from libpq: the host name is matched against the
//! certificate's subject alternative names only (not a common name
//! without them, which libpq still accepts); a key file must be
//! unencrypted (no `sslpassword`); certificate revocation lists
//! (`sslcrl`) are not read. Cancel requests go in plain text, as libpq's
//! before PostgreSQL 17 do. Failures are [`PgError::Tls`], naming the
//! server, the mode and the file.
//!
//! # Buffers
//!
//! Received messages are cut out of one reused read buffer as reference-
//! counted [`bytes::Bytes`] slices; `pgoutput` tuple values are slices of
//! those, so decoding a change allocates only its value vector. A value kept
//! alive keeps its (up to ~64 KiB) read block alive: copy what you keep.

#![warn(missing_docs)]

mod conn;
mod error;
mod lsn;
pub mod pgoutput;
mod replication;
mod rows;
mod transport;

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use conn::PgConnection;
pub use error::PgError;
pub use lsn::{Lsn, ParseLsnError};
pub use pgoutput::{PgOutput, RelationBody, RelationColumn, TupleValue};
pub use replication::{
    ReplicationConnection, ReplicationMessage, ReplicationStream, SlotInfo, SnapshotAction,
    SystemInfo,
};
pub use rows::{Column, SimpleResult};
pub use transport::{CancelToken, ShutdownHandle};

/// Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01 UTC).
pub const PG_EPOCH_OFFSET_US: i64 = 946_684_800_000_000;

/// Converts a PostgreSQL timestamp (microseconds since 2000-01-01 UTC, as in
/// `pgoutput` Begin/Commit and replication keepalives) to microseconds since
/// the Unix epoch.
pub fn pg_time_to_unix_us(pg_us: i64) -> i64 {
    pg_us.saturating_add(PG_EPOCH_OFFSET_US)
}

/// Now, in microseconds since 2000-01-01 UTC (PostgreSQL's epoch).
pub fn pg_now_us() -> i64 {
    let unix_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    unix_us - PG_EPOCH_OFFSET_US
}

/// Where and how to connect. Build it with [`PgConfig::new`] and adjust the
/// public fields, or with a struct literal and `..PgConfig::default()`.
/// Its `Debug` output shows the password as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct PgConfig {
    /// Host name or IP address; or, as in libpq, an absolute path: the
    /// directory of the server's Unix-domain socket `.s.PGSQL.<port>`
    /// (where `sslmode` is ignored, as libpq ignores it).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Role to log in as.
    pub user: String,
    /// Password, if the server asks for one (cleartext, MD5 or SCRAM-SHA-256).
    pub password: Option<String>,
    /// Database to connect to.
    pub dbname: String,
    /// libpq's `sslmode`: `disable`, `allow`, `prefer`, `require`,
    /// `verify-ca` or `verify-full` (see the crate docs' "TLS").
    pub sslmode: String,
    /// libpq's `sslrootcert`: a PEM file of the certificate authorities the
    /// server's certificate must chain to, or `system` for the operating
    /// system's trusted roots. Default: `~/.postgresql/root.crt` if it exists.
    pub sslrootcert: Option<PathBuf>,
    /// libpq's `sslcert`: a PEM client certificate (chain) to present.
    /// Default: `~/.postgresql/postgresql.crt` if it and the key exist.
    pub sslcert: Option<PathBuf>,
    /// libpq's `sslkey`: the client certificate's private key, PEM
    /// (PKCS#8, PKCS#1 or SEC1), unencrypted.
    pub sslkey: Option<PathBuf>,
    /// Limit for the TCP connect plus startup and authentication.
    pub connect_timeout: Duration,
    /// Limit for any single read or write on an established session outside
    /// [`ReplicationStream::recv`] (which takes its own timeout). `None`
    /// waits forever. A session that hits it is unusable afterwards
    /// ([`PgError::Timeout`]).
    pub io_timeout: Option<Duration>,
    /// `application_name`, shown in `pg_stat_activity` and
    /// `pg_stat_replication`.
    pub application_name: String,
    /// More startup parameters (e.g. `("search_path", "app")`); they override
    /// the fixed session settings listed in the module docs.
    pub extra_params: Vec<(String, String)>,
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("dbname", &self.dbname)
            .field("sslmode", &self.sslmode)
            .field("sslrootcert", &self.sslrootcert)
            .field("sslcert", &self.sslcert)
            .field("sslkey", &self.sslkey)
            .field("connect_timeout", &self.connect_timeout)
            .field("io_timeout", &self.io_timeout)
            .field("application_name", &self.application_name)
            .field("extra_params", &self.extra_params)
            .finish()
    }
}

impl Default for PgConfig {
    fn default() -> Self {
        PgConfig {
            host: "localhost".to_string(),
            port: 5432,
            user: "postgres".to_string(),
            password: None,
            dbname: "postgres".to_string(),
            sslmode: "prefer".to_string(),
            sslrootcert: None,
            sslcert: None,
            sslkey: None,
            connect_timeout: Duration::from_secs(30),
            io_timeout: Some(Duration::from_secs(600)),
            application_name: "timely-connect".to_string(),
            extra_params: Vec::new(),
        }
    }
}

impl PgConfig {
    /// A config for `user`@`host`:`port`/`dbname` with the defaults of
    /// [`PgConfig::default`] for everything else.
    pub fn new(host: &str, port: u16, user: &str, dbname: &str) -> Self {
        PgConfig {
            host: host.to_string(),
            port,
            user: user.to_string(),
            dbname: dbname.to_string(),
            ..PgConfig::default()
        }
    }

    /// Sets the password.
    pub fn with_password(mut self, password: &str) -> Self {
        self.password = Some(password.to_string());
        self
    }
}

/// Quotes `s` as an SQL string literal (`'it''s'`), for the few statements
/// this client builds itself. Standard-conforming strings are assumed (the
/// default since PostgreSQL 9.1).
pub fn quote_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// Quotes `s` as an SQL identifier (`"My ""Table"""`).
pub fn quote_ident(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_the_quote_character() {
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_ident("My \"T\""), "\"My \"\"T\"\"\"");
    }

    #[test]
    fn config_debug_hides_the_password() {
        let cfg = PgConfig::new("h", 1, "u", "d").with_password("s3cret");
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
    }

    #[test]
    fn pg_epoch_conversion() {
        assert_eq!(pg_time_to_unix_us(0), 946_684_800_000_000);
        let now = pg_now_us();
        // After 2024-01-01 in PostgreSQL's epoch.
        assert!(now > 757_382_400_000_000, "{now}");
    }
}
