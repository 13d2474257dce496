//! Keys every connector shares (Kafka's `ConnectorConfig`) and the
//! framework's own keys.
