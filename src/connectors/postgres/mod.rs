//! `PostgresCdc`: change data capture from PostgreSQL through logical
//! replication (pgoutput), with Debezium's configuration keys, event
//! envelope, topics and offsets.

pub mod config;
pub mod envelope;
pub mod offsets;
pub mod types;
