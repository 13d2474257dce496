//! Kafka Connect's logical types: Decimal, Date, Time, Timestamp.
