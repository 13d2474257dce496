//! Human durations: `200ms`, `2s`, `1m`.
