//! Errors of the PostgreSQL client.

use std::fmt;
use std::io;

/// Everything that can go wrong talking to PostgreSQL.
///
/// [`PgError::is_connection_lost`] tells whether the session is gone (and a
/// new connection may succeed later) as opposed to a statement, a
/// configuration or credentials being wrong.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// A socket operation failed: connecting (`could not connect to
    /// 127.0.0.1:5999: Connection refused`), or reading/writing an
    /// established session.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the server address.
        context: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The server rejected the credentials (SQLSTATE 28P01 / 28000), or it
    /// asked for a password and none is configured, or for an
    /// authentication method this client does not speak.
    #[error("{message}")]
    Auth {
        /// The role that tried to log in.
        user: String,
        /// The server's message (it names the user), or ours.
        message: String,
    },
    /// The server reported an error (an `ErrorResponse`).
    #[error("{}", ServerDisplay { severity, code, message, detail, hint })]
    Server {
        /// `ERROR`, `FATAL` or `PANIC`.
        severity: String,
        /// The SQLSTATE code, e.g. `42P01`.
        code: String,
        /// The primary message.
        message: String,
        /// The optional `DETAIL` line.
        detail: Option<String>,
        /// The optional `HINT` line.
        hint: Option<String>,
    },
    /// The server sent something this client does not understand, or a
    /// reply of an unexpected shape.
    #[error("PostgreSQL protocol error: {0}")]
    Protocol(String),
    /// TLS was required (`sslmode` `require`, `verify-ca`, `verify-full`).
    #[error("{0}")]
    Tls(String),
    /// The configuration or an argument is invalid (unknown `sslmode`, a
    /// slot name with characters PostgreSQL does not accept, …).
    #[error("invalid PostgreSQL client configuration: {0}")]
    Config(String),
    /// The server closed the connection (or ended the replication stream),
    /// or an earlier error left this session unusable.
    #[error("the connection to the PostgreSQL server is closed")]
    Closed,
    /// No reply from the server within the configured timeout; the session is
    /// unusable afterwards.
    #[error("timed out waiting for the PostgreSQL server")]
    Timeout,
}

struct ServerDisplay<'a> {
    severity: &'a str,
    code: &'a str,
    message: &'a str,
    detail: &'a Option<String>,
    hint: &'a Option<String>,
}

impl fmt::Display for ServerDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (SQLSTATE {})",
            self.severity, self.message, self.code
        )?;
        if let Some(d) = self.detail {
            write!(f, "; DETAIL: {d}")?;
        }
        if let Some(h) = self.hint {
            write!(f, "; HINT: {h}")?;
        }
        Ok(())
    }
}

impl PgError {
    /// Whether the session is lost and reconnecting may help: socket errors,
    /// [`PgError::Closed`], [`PgError::Timeout`], and server errors of class
    /// `08` (connection exception) or `57P` (operator intervention: admin
    /// shutdown, crash shutdown, cannot connect now), or any other `FATAL` /
    /// `PANIC` (e.g. too many connections) except credentials (class `28`),
    /// a missing database (`3D`) or missing privileges (`42`, e.g. a role
    /// without `REPLICATION`). `false` for statement errors, credentials,
    /// configuration and protocol errors.
    pub fn is_connection_lost(&self) -> bool {
        match self {
            PgError::Io { .. } | PgError::Closed | PgError::Timeout => true,
            PgError::Server { severity, code, .. } => {
                let fatal = severity == "FATAL" || severity == "PANIC";
                // Classes that no reconnect fixes: credentials (28), a
                // missing database (3D), missing privileges (42).
                let config = ["28", "3D", "42"].iter().any(|c| code.starts_with(c));
                code.starts_with("08") || code.starts_with("57P") || (fatal && !config)
            }
            PgError::Auth { .. } | PgError::Protocol(_) | PgError::Tls(_) | PgError::Config(_) => {
                false
            }
        }
    }

    /// The SQLSTATE of a [`PgError::Server`] error (`28P01` for
    /// [`PgError::Auth`] rejections by the server).
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            PgError::Server { code, .. } => Some(code),
            _ => None,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        PgError::Io {
            context: context.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(severity: &str, code: &str) -> PgError {
        PgError::Server {
            severity: severity.into(),
            code: code.into(),
            message: "m".into(),
            detail: Some("d".into()),
            hint: None,
        }
    }

    #[test]
    fn server_error_display_names_sqlstate_and_detail() {
        assert_eq!(
            server("ERROR", "42P01").to_string(),
            "ERROR: m (SQLSTATE 42P01); DETAIL: d"
        );
    }

    #[test]
    fn connection_lost_classification() {
        assert!(server("FATAL", "57P01").is_connection_lost());
        assert!(server("FATAL", "XX000").is_connection_lost());
        assert!(server("ERROR", "08006").is_connection_lost());
        assert!(!server("ERROR", "42P01").is_connection_lost());
        assert!(!server("FATAL", "28P01").is_connection_lost());
        assert!(!server("FATAL", "3D000").is_connection_lost());
        assert!(!server("FATAL", "42501").is_connection_lost());
        assert!(server("FATAL", "53300").is_connection_lost());
        assert!(PgError::Closed.is_connection_lost());
        assert!(!PgError::Tls("x".into()).is_connection_lost());
    }
}
