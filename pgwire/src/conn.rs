//! The ordinary session [`PgConnection`] and its query results.

use super::rows::{Column, SimpleResult};
use super::transport::{CancelToken, QuerySink, RowsTo, ShutdownHandle, Wire};
use super::{PgConfig, PgError};

/// An ordinary PostgreSQL session (simple-query protocol, text results).
///
/// Blocking; use one per thread. Dropping it sends `Terminate`.
#[derive(Debug)]
pub struct PgConnection {
    wire: Wire,
}

impl PgConnection {
    /// Connects and authenticates (cleartext, MD5 or SCRAM-SHA-256 password),
    /// within `cfg.connect_timeout`.
    pub fn connect(cfg: &PgConfig) -> Result<Self, PgError> {
        Ok(PgConnection {
            wire: Wire::connect(cfg, false)?,
        })
    }

    /// Runs `sql` (one or more `;`-separated statements) and collects every
    /// statement's result, values in text format. On an error the remaining
    /// statements are skipped by the server, an open transaction is aborted,
    /// and the session stays usable.
    pub fn simple_query(&mut self, sql: &str) -> Result<Vec<SimpleResult>, PgError> {
        self.wire.simple_query(sql)
    }

    /// Runs `sql`, discarding any rows.
    pub fn execute(&mut self, sql: &str) -> Result<(), PgError> {
        struct Discard;
        impl QuerySink for Discard {
            fn columns(&mut self, _: &[Column]) {}
            fn row(&mut self, _: &[Column], _: &[Option<&[u8]>]) -> Result<(), PgError> {
                Ok(())
            }
            fn complete(&mut self, _: &str) {}
        }
        self.wire.query(sql, &mut Discard)
    }

    /// Runs `sql` and calls `on_row` for each result row as it arrives,
    /// without collecting: values are the text-format bytes (`None` for
    /// NULL), valid for the duration of the call. Memory stays flat however
    /// many rows the query returns (the server streams them; TCP flow control
    /// holds it back while `on_row` is busy).
    ///
    /// If `on_row` fails, the remaining rows are read and dropped (the
    /// server cannot be stopped mid-result without cancelling) and its error
    /// is returned; the session stays usable.
    pub fn query_rows(
        &mut self,
        sql: &str,
        on_row: impl FnMut(&[Column], &[Option<&[u8]>]) -> Result<(), PgError>,
    ) -> Result<(), PgError> {
        self.wire.query(sql, &mut RowsTo(on_row))
    }

    /// Sends `sql` without waiting for its reply (a pipelined query): the
    /// server works on it while the client still handles an earlier
    /// reply. Replies are read in the order sent, with
    /// [`PgConnection::receive_rows`]; until all are read, the other query
    /// methods fail rather than read a reply that is not theirs.
    ///
    /// ```no_run
    /// # use timely_connect_pgwire::{PgConfig, PgConnection};
    /// # let mut conn = PgConnection::connect(&PgConfig::default())?;
    /// conn.execute("BEGIN; DECLARE c NO SCROLL CURSOR FOR SELECT generate_series(1, 100000)")?;
    /// conn.send_query("FETCH 1000 FROM c")?;
    /// loop {
    ///     // The next batch is on its way while this one is read.
    ///     conn.send_query("FETCH 1000 FROM c")?;
    ///     let mut rows = 0;
    ///     conn.receive_rows(|_, _| { rows += 1; Ok(()) })?;
    ///     if rows < 1000 {
    ///         conn.receive_rows(|_, _| Ok(()))?; // the last FETCH: no rows
    ///         break;
    ///     }
    /// }
    /// conn.execute("COMMIT")?;
    /// # Ok::<(), timely_connect_pgwire::PgError>(())
    /// ```
    pub fn send_query(&mut self, sql: &str) -> Result<(), PgError> {
        self.wire.send_query(sql)
    }

    /// Reads the reply of the oldest query sent with
    /// [`PgConnection::send_query`] and not read yet, calling `on_row` for
    /// each row as [`PgConnection::query_rows`] does. Fails when no reply
    /// is waiting.
    pub fn receive_rows(
        &mut self,
        on_row: impl FnMut(&[Column], &[Option<&[u8]>]) -> Result<(), PgError>,
    ) -> Result<(), PgError> {
        self.wire.receive(&mut RowsTo(on_row))
    }

    /// How many queries sent with [`PgConnection::send_query`] have replies
    /// not read yet.
    pub fn unread_replies(&self) -> usize {
        self.wire.unread
    }

    /// The server's version as `server_version_num` (e.g. 150004 for 15.4),
    /// from the `server_version` it reported at startup.
    pub fn server_version_num(&self) -> u32 {
        self.wire.server_version_num()
    }

    /// Whether the session is encrypted with TLS (see `sslmode`).
    pub fn is_tls(&self) -> bool {
        self.wire.is_tls()
    }

    /// A parameter the server reported (`server_version`, `TimeZone`,
    /// `integer_datetimes`, `standard_conforming_strings`, …).
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.wire.parameter(name)
    }

    /// The transaction status after the last query: `b'I'` idle, `b'T'` in a
    /// transaction block, `b'E'` in a failed transaction block.
    pub fn transaction_status(&self) -> u8 {
        self.wire.transaction_status()
    }

    /// Whether an earlier error left the session unusable (every call then
    /// fails with [`PgError::Closed`]).
    pub fn is_closed(&self) -> bool {
        self.wire.check_usable().is_err()
    }

    /// A handle to shut this session's socket down from another thread.
    pub fn shutdown_handle(&self) -> Result<ShutdownHandle, PgError> {
        self.wire.shutdown_handle()
    }

    /// A token to cancel this session's running query from another thread
    /// (`None` if the server sent no cancel key).
    pub fn cancel_token(&self) -> Option<CancelToken> {
        self.wire.cancel_token()
    }

    /// Ends the session (sends `Terminate`).
    pub fn close(mut self) {
        self.wire.terminate();
    }
}
