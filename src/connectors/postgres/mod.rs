//! PostgreSQL change-data-capture source (Debezium-compatible), built on
//! logical replication with the built-in `pgoutput` plugin.
//!
//! - [`wire`]: the small synchronous PostgreSQL client it runs on (ordinary
//!   sessions for snapshots, replication sessions for the change stream).

pub mod wire;
