//! The connector API, mirroring Kafka Connect's `SourceConnector` and
//! `SourceTask`, and the registry that finds connectors by class name.

mod api;
mod context;
mod error;
pub mod registry;

pub use api::{ConnectorRequests, SourceConnector, SourceTask, TaskConfig};
pub use context::{OffsetStorageReader, SourceTaskContext, StopToken};
pub use error::ConnectError;
pub use registry::Registry;
