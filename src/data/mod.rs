//! The Connect data model: schemas, values, structs, logical types and
//! source records — named and shaped as in Kafka Connect's `connect/api`.

pub mod json;
pub mod logical;
mod schema_check;
mod offset;
mod record;
mod schema;
mod value;

pub use offset::{OffsetValue, SourceOffset, SourcePartition};
pub use record::{Header, SourceRecord};
pub use schema::{Field, Schema, SchemaBuilder, SchemaRef, SchemaType};
pub use value::{DataError, Struct, Value};
