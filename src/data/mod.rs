//! The Connect data model: schemas, values, structs, logical types and
//! source records — named and shaped as in Kafka Connect's `connect/api`.
//!
//! - [`Schema`] / [`SchemaBuilder`]: types, optionality, defaults, names.
//! - [`Value`] / [`Struct`]: values, checked against schemas
//!   ([`Struct::put`], [`Struct::validate`], [`SourceRecord::validate`]).
//! - [`logical`]: Decimal, Date, Time, Timestamp with Kafka's names and
//!   encodings.
//! - [`json`]: values as JSON text (the CLI's output format).
//! - [`Datum`] / [`FromConnect`]: values for differential collections
//!   (ordered, hashable, without schemas), and a pipeline's own types.
//! - [`SourceRecord`], [`SourcePartition`], [`SourceOffset`]: what a task
//!   emits. All of these serialize with serde (bincode between processes).

mod datum;
pub mod json;
pub mod logical;
mod offset;
mod parameters;
mod record;
mod schema;
pub(crate) mod schema_check;
mod value;

pub use datum::{Datum, Float, FromConnect};
pub use logical::{Date, Decimal, LogicalType, Time, Timestamp};
pub use offset::{OffsetValue, Offsets, SourceOffset, SourcePartition};
pub use parameters::Parameters;
pub use record::{Header, SourceRecord};
pub use schema::{Field, Schema, SchemaBuilder, SchemaRef, SchemaType};
pub use value::{DataError, Struct, Value};
