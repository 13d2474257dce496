//! Human durations as the CLI reads them: `200ms`, `2s`, `1m30s`, `1h`
//! (the `humantime` crate's syntax), or a bare number of milliseconds.

use std::time::Duration;

/// A duration that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration `{input}`: {reason} (e.g. 200ms, 2s, 1m30s, or 500 for milliseconds)")]
pub struct DurationError {
    /// The text given.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses `200ms`, `2s`, `1m`, `1m30s`, `1h` or `500` (milliseconds).
///
/// ```
/// use std::time::Duration;
/// use timely_connect::duration::parse_duration;
/// assert_eq!(parse_duration("200ms").unwrap(), Duration::from_millis(200));
/// assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
/// assert_eq!(parse_duration("1m 30s").unwrap(), Duration::from_secs(90));
/// assert_eq!(parse_duration("750").unwrap(), Duration::from_millis(750));
/// assert!(parse_duration("soon").is_err());
/// ```
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let text = input.trim();
    let parsed = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|e| e.to_string())
    } else {
        humantime::parse_duration(text).map_err(|e| e.to_string())
    };
    parsed.map_err(|reason| DurationError {
        input: input.to_owned(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_rejects_garbage() {
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("750"), Ok(Duration::from_millis(750)));
        assert_eq!(parse_duration(" 1h "), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1min"), Ok(Duration::from_secs(60)));
        for bad in ["", "5 days later", "-1s", "soon", "1.5.s"] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
    }
}
