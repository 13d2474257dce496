//! Connect schemas to Avro schemas and back, the way Confluent's `AvroData`
//! maps them with its default settings.
//!
//! Connect → Avro ([`AvroData::from_connect_schema`]):
//!
//! | Connect                          | Avro                                                                |
//! |----------------------------------|---------------------------------------------------------------------|
//! | INT8 / INT16                     | `int` with `"connect.type": "int8"` / `"int16"`                     |
//! | INT32, INT64, FLOAT32, FLOAT64   | `int`, `long`, `float`, `double`                                    |
//! | BOOLEAN, STRING, BYTES           | `boolean`, `string`, `bytes`                                        |
//! | Decimal                          | `bytes`, `scale`, `precision` (`connect.decimal.precision` or 64), `logicalType: decimal` |
//! | Date / Time / Timestamp          | `int` `date` / `int` `time-millis` / `long` `timestamp-millis`      |
//! | ARRAY                            | `array`                                                             |
//! | MAP, required STRING keys        | `map`                                                               |
//! | MAP, other keys                  | `array` of record `io.confluent.connect.avro.MapEntry {key, value}` (named after the map's schema name if it has one, tagged `connect.internal.type: MapEntry`) |
//! | STRUCT                           | `record` named after the schema, or `io.confluent.connect.avro.ConnectDefault` |
//! | optional T                       | `["null", T]`, or `[T, "null"]` when T has a default; a field of it defaults to `null` |
//!
//! Every non-union type carries, in this order, `connect.doc`,
//! `connect.version`, `connect.parameters`, `connect.default`,
//! `connect.name` and `connect.type` where the Connect schema has them
//! (unless `connect.meta.data=false`). Avro → Connect reads all of these
//! back, so a schema survives the trip unchanged; Avro types Connect lacks
//! map as Confluent maps them (enum → STRING with
//! `io.confluent.connect.avro.Enum*` parameters, fixed → BYTES, a union of
//! several types → STRUCT `io.confluent.connect.avro.Union` with one
//! optional field per branch).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value as JsonValue;

use super::json::Json;
use super::AvroError;
use crate::data::logical::{self, LogicalType, DATE_NAME, DECIMAL_NAME, TIMESTAMP_NAME, TIME_NAME};
use crate::data::{Field, Schema, SchemaRef, SchemaType, Struct, Value};

/// Namespace of the records Confluent's converter invents.
pub const NAMESPACE: &str = "io.confluent.connect.avro";
/// Full name of the record made for an unnamed STRUCT.
pub const DEFAULT_SCHEMA_FULL_NAME: &str = "io.confluent.connect.avro.ConnectDefault";
const DEFAULT_SCHEMA_NAME: &str = "ConnectDefault";
const MAP_ENTRY_TYPE_NAME: &str = "MapEntry";
const KEY_FIELD: &str = "key";
const VALUE_FIELD: &str = "value";

const CONNECT_NAME_PROP: &str = "connect.name";
const CONNECT_DOC_PROP: &str = "connect.doc";
const CONNECT_VERSION_PROP: &str = "connect.version";
const CONNECT_DEFAULT_VALUE_PROP: &str = "connect.default";
const CONNECT_PARAMETERS_PROP: &str = "connect.parameters";
const CONNECT_INTERNAL_TYPE_NAME: &str = "connect.internal.type";
const CONNECT_TYPE_PROP: &str = "connect.type";
const AVRO_RECORD_DOC_PROP: &str = "io.confluent.connect.avro.record.doc";
const AVRO_FIELD_DOC_PREFIX_PROP: &str = "io.confluent.connect.avro.field.doc.";
const AVRO_FIELD_DEFAULT_FLAG_PROP: &str = "io.confluent.connect.avro.field.default";
const AVRO_ENUM_DOC_PREFIX_PROP: &str = "io.confluent.connect.avro.enum.doc.";
const AVRO_ENUM_DEFAULT_PREFIX_PROP: &str = "io.confluent.connect.avro.enum.default.";
/// Schema name of the STRUCT a multi-type Avro union maps to.
pub const AVRO_TYPE_UNION: &str = "io.confluent.connect.avro.Union";
/// Parameter holding an Avro enum's full name on its STRING schema.
pub const AVRO_TYPE_ENUM: &str = "io.confluent.connect.avro.Enum";
/// Decimal schema parameter for the Avro precision.
pub const CONNECT_AVRO_DECIMAL_PRECISION_PROP: &str = "connect.decimal.precision";
/// Avro precision written when a Decimal schema names none.
pub const CONNECT_AVRO_DECIMAL_PRECISION_DEFAULT: i64 = 64;

const AVRO_PROP_PREFIX: &str = "avro";

/// How a decoder reads one Avro value into a Connect value; built from the
/// writer's Avro schema together with the Connect schema.
#[derive(Clone, Debug)]
pub(crate) enum Dec {
    Boolean,
    /// An Avro `int` read as INT8, INT16 or INT32.
    Int(SchemaType),
    Long,
    Float,
    Double,
    Bytes,
    String,
    Enum(Arc<[String]>),
    Fixed(usize),
    Array(Box<Dec>),
    /// An Avro map (string keys).
    Map(Box<Dec>),
    /// An array of `MapEntry` records: a map with non-string keys.
    EntryArray {
        key: Box<Dec>,
        value: Box<Dec>,
        key_first: bool,
    },
    Record(SchemaRef, Vec<Dec>),
    /// `["null", T]` or `[T, "null"]`.
    Optional {
        null_index: i64,
        inner: Box<Dec>,
    },
    /// A union of several types, read into a `io.confluent.connect.avro.Union`
    /// struct; `None` marks the `null` branch.
    Union(SchemaRef, Vec<Option<(String, Dec)>>),
}

impl Dec {
    /// Whether a value of this type may take no bytes at all (so a block
    /// count cannot be bounded by the bytes left).
    pub(crate) fn may_be_empty(&self) -> bool {
        match self {
            Dec::Fixed(n) => *n == 0,
            Dec::Record(_, fields) => fields.iter().all(Dec::may_be_empty),
            Dec::Enum(symbols) => symbols.len() <= 1,
            _ => false,
        }
    }
}

/// Maps Connect schemas to Avro schemas and back (Confluent's `AvroData`).
///
/// ```
/// use timely_connect::convert::avro::AvroData;
/// use timely_connect::data::{Schema, SchemaBuilder};
///
/// let row = SchemaBuilder::struct_()
///     .name("com.example.Row")
///     .field("id", Schema::int64())
///     .field("note", Schema::optional_string())
///     .build();
/// let avro = AvroData::default().from_connect_schema(&row)?;
/// assert_eq!(
///     avro,
///     r#"{"type":"record","name":"Row","namespace":"com.example","fields":[{"name":"id","type":"long"},{"name":"note","type":["null","string"],"default":null}],"connect.name":"com.example.Row"}"#
/// );
/// assert_eq!(AvroData::default().to_connect_schema(&avro)?, row);
/// # Ok::<(), timely_connect::convert::avro::AvroError>(())
/// ```
#[derive(Clone, Debug)]
pub struct AvroData {
    /// Write and read the `connect.*` properties (Confluent's
    /// `connect.meta.data`, default `true`).
    pub connect_meta_data: bool,
}

impl Default for AvroData {
    fn default() -> Self {
        AvroData {
            connect_meta_data: true,
        }
    }
}

impl AvroData {
    /// The Avro schema (JSON text) for a Connect schema. Fails for names
    /// Avro does not accept, for two different schemas of one name, and
    /// for defaults JSON cannot hold (NaN, infinity).
    #[allow(clippy::wrong_self_convention)] // Confluent's name (`fromConnectSchema`)
    pub fn from_connect_schema(&self, schema: &Schema) -> Result<String, AvroError> {
        let mut ctx = FromConnect {
            meta: self.connect_meta_data,
            defined: HashMap::new(),
        };
        let json = ctx.schema(schema, None)?.to_text();
        // Let the Avro library judge names, defaults and structure.
        apache_avro::Schema::parse_str(&json).map_err(|e| AvroError::ToAvro {
            schema: describe(schema),
            message: format!("not a valid Avro schema: {e}"),
        })?;
        Ok(json)
    }

    /// The Connect schema for an Avro schema (JSON text).
    pub fn to_connect_schema(&self, avro: &str) -> Result<SchemaRef, AvroError> {
        Ok(self.to_connect_with_decoder(avro)?.0)
    }

    /// The Connect schema and the plan to decode values of `avro`.
    pub(crate) fn to_connect_with_decoder(
        &self,
        avro: &str,
    ) -> Result<(SchemaRef, Dec), AvroError> {
        let json: JsonValue = serde_json::from_str(avro)
            .map_err(|e| AvroError::ToConnect(format!("the schema is not JSON: {e}")))?;
        let mut ctx = ToConnect {
            meta: self.connect_meta_data,
            named: HashMap::new(),
            in_progress: HashSet::new(),
        };
        ctx.convert(&json, None, false, None)
    }
}

fn describe(schema: &Schema) -> String {
    schema.name.clone().unwrap_or_else(|| schema.to_string())
}

fn split_name(full: &str) -> (Option<&str>, &str) {
    match full.rfind('.') {
        Some(i) => (Some(&full[..i]), &full[i + 1..]),
        None => (None, full),
    }
}

fn is_string_map_key(schema: &Schema) -> bool {
    schema.schema_type == SchemaType::String && !schema.optional
}

fn is_union_struct(schema: &Schema) -> bool {
    schema.schema_type == SchemaType::Struct && schema.name.as_deref() == Some(AVRO_TYPE_UNION)
}

/// The Avro union member index of `null` and of the value for an optional
/// schema: the value comes first when the schema has a default (an Avro
/// default must match the first member), `null` first otherwise.
pub(crate) fn optional_indexes(schema: &Schema) -> (i64, i64) {
    if schema.default.is_some() {
        (1, 0)
    } else {
        (0, 1)
    }
}

mod to_avro;
mod to_connect;

use to_avro::*;
use to_connect::*;

#[cfg(test)]
mod tests;
