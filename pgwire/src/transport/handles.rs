//! Handles another thread uses on a session: shut its socket down, or
//! cancel its running query.

use super::*;

/// Shuts a session's socket down from another thread (e.g. a task's
/// `stop()`): a call blocked in a read returns at once with an error whose
/// [`PgError::is_connection_lost`] is true, and the session is unusable
/// afterwards. Cloneable; holding it keeps the socket's file descriptor open.
#[derive(Debug)]
pub struct ShutdownHandle {
    pub(super) stream: Socket,
}

impl ShutdownHandle {
    /// Shuts both directions of the socket down. Idempotent.
    pub fn shutdown(&self) {
        let _ = self.stream.shutdown();
    }
}

/// Asks the server to cancel the query a session is running (PostgreSQL's
/// `CancelRequest`, sent on a new connection), e.g. a long snapshot read
/// from another thread. The cancelled query fails with SQLSTATE `57014`; the
/// session stays usable. A no-op if nothing is running.
#[derive(Clone, Debug)]
pub struct CancelToken {
    pub(super) addr: Target,
    pub(super) process_id: i32,
    pub(super) secret_key: i32,
    pub(super) connect_timeout: Duration,
}

impl CancelToken {
    /// Sends the cancel request (best effort on the server's side).
    pub fn cancel(&self) -> Result<(), PgError> {
        let mut stream = Socket::connect_to(&self.addr, self.connect_timeout)
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
