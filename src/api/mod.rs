//! The connector API, mirroring Kafka Connect's: [`SourceConnector`] and
//! [`SourceTask`], the context a task runs in ([`SourceTaskContext`],
//! [`OffsetStorageReader`]), a connector as a plugin ([`ConnectorPlugin`])
//! and the connector's error type ([`ConnectError`]). Which connectors exist, and how a job finds
//! one by class name, is [`crate::plugins`]'s business.

mod context;
mod error;
mod plugin;
mod traits;

pub use context::{
    Gauge, Gauges, OffsetStorageReader, SourceTaskContext, StopToken, PROGRESS_DONE, PROGRESS_TOTAL,
};
pub use error::ConnectError;
pub use plugin::{ConnectorFactory, ConnectorPlugin};
pub use traits::{ConnectorRequests, SourceConnector, SourceTask, TaskConfig};
