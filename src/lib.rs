//! # timely-connect
//!
//! Kafka Connect's source-connector model without Kafka: the data model
//! ([`data`]), configuration ([`config`]), the connector API ([`api`]),
//! the set of plugins a job can name ([`plugins`]), the task runtime
//! ([`runtime`]), snapshots of source offsets ([`snapshot`]), operators'
//! state in snapshots ([`state`]), converters ([`convert`]), transforms
//! ([`transforms`]) and the built-in connectors ([`connectors`]).
//!
//! This crate has no Timely types; the Timely operators live in the
//! `timely-connect-operators` crate, which re-exports this one.
#![warn(missing_docs)]

pub mod api;
pub mod config;
pub mod connectors;
pub mod convert;
pub mod data;
pub mod duration;
pub mod plugins;
pub mod runtime;
pub mod snapshot;
pub mod state;
pub mod storage;
pub mod transforms;

pub use api::{ConnectError, OffsetStorageReader, SourceConnector, SourceTask, SourceTaskContext};
pub use config::{ConfigDef, Properties};
pub use data::{
    Field, Header, Schema, SchemaBuilder, SchemaRef, SchemaType, SourceOffset, SourcePartition,
    SourceRecord, Struct, Value,
};
pub use plugins::PluginSet;
