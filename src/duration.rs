//! Human durations as the CLI reads them: `200ms`, `2s`, `1m`, `1h`, or a
//! bare number of milliseconds.

use std::time::Duration;

/// A duration that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration `{input}`: expected a number followed by ms, s, m or h (e.g. 200ms, 2s, 1m)"
)]
pub struct DurationError {
    /// The text given.
    pub input: String,
}

/// Parses `200ms`, `2s`, `1.5s`, `1m`, `1h` or `500` (milliseconds).
///
/// ```
/// use std::time::Duration;
/// use timely_connect::duration::parse_duration;
/// assert_eq!(parse_duration("200ms").unwrap(), Duration::from_millis(200));
/// assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
/// assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
/// assert!(parse_duration("soon").is_err());
/// ```
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let err = || DurationError {
        input: input.to_owned(),
    };
    let text = input.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| err())?;
    let millis = match unit.trim() {
        "" | "ms" => number,
        "s" => number * 1_000.0,
        "m" | "min" => number * 60_000.0,
        "h" => number * 3_600_000.0,
        _ => return Err(err()),
    };
    if !millis.is_finite() || millis < 0.0 {
        return Err(err());
    }
    Ok(Duration::from_micros((millis * 1_000.0).round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_rejects_garbage() {
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("750"), Ok(Duration::from_millis(750)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5 days").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
