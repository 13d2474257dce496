//! `PostgresCdc`: change data capture from PostgreSQL through logical
//! replication with the built-in `pgoutput` plugin, with Debezium's
//! configuration keys, event envelope, topics and offsets.
//!
//! - [`config`]: the keys and their parsing.
//! - [`types`]: PostgreSQL text output → Connect values, Debezium's mapping.
//! - [`envelope`]: key/value/envelope schemas and the `source` block.
//! - [`offsets`]: source partitions/offsets and where a restart resumes.
//! - [`catalog`]: what the connector asks the server's catalog.
//! - [`snapshot`]: the initial snapshot under an exported snapshot.
//! - [`incremental`]: incremental snapshots started by signals, with
//!   watermark windows.
//! - [`stream`]: pgoutput changes → events; skip-on-restart; heartbeats.
//! - [`task`]: the connector and its task (phases, restart decisions,
//!   confirming the slot only to the durable position).
//! - [`wire`]: the small synchronous PostgreSQL client it runs on (ordinary
//!   sessions for snapshots, replication sessions for the change stream).

pub mod catalog;
pub mod config;
pub mod envelope;
pub mod incremental;
pub mod offsets;
pub mod snapshot;
pub mod stream;
pub mod task;
pub mod types;
pub use timely_connect_pgwire as wire;

pub use task::{PostgresCdc, PostgresCdcTask, CLASS, DEBEZIUM_CLASS};

/// Registers [`PostgresCdc`].
pub(crate) fn plugin() -> crate::api::ConnectorPlugin {
    task::plugin()
}
