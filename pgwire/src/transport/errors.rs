//! Server errors and notices.

use super::*;

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

pub(super) fn log_notice(fields: ErrorFields<'_>) {
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
