//! Kafka Connect's logical types: Decimal, Date, Time, Timestamp.
//!
//! A logical type is a primitive schema with a well-known name; the value
//! travels in the primitive's encoding, exactly as in Kafka Connect, so a
//! Kafka Connect user (and its converters) read them the same way:
//!
//! | Logical type | Schema name                                 | Encoding                                               |
//! |--------------|---------------------------------------------|--------------------------------------------------------|
//! | Decimal      | `org.apache.kafka.connect.data.Decimal`     | BYTES: big-endian two's-complement unscaled value; the schema parameter `scale` holds the scale |
//! | Date         | `org.apache.kafka.connect.data.Date`        | INT32: days since 1970-01-01                           |
//! | Time         | `org.apache.kafka.connect.data.Time`        | INT32: milliseconds since midnight, `0..86_400_000`    |
//! | Timestamp    | `org.apache.kafka.connect.data.Timestamp`   | INT64: milliseconds since 1970-01-01T00:00:00Z         |
//!
//! Each type has a builder (`decimal_builder`, …) and a finished schema
//! (`decimal_schema`, …) carrying the name and version 1, and a friendly Rust
//! form ([`Decimal`], [`Date`], [`Time`], [`Timestamp`]) that converts to
//! and from the encoded [`Value`]. Dates use the proleptic Gregorian
//! calendar, computed here without external crates.
//!
//! ```
//! use timely_connect::data::logical::{self, Date, Decimal};
//! use timely_connect::data::Value;
//!
//! let price = Decimal::new(12345, 2);
//! let schema = logical::decimal_schema(2);
//! let v = price.to_value_for(&schema)?;
//! assert_eq!(v, Value::Bytes(vec![0x30, 0x39]));
//! assert_eq!(Decimal::from_value(&v, &schema)?.to_string(), "123.45");
//!
//! let d = Date::new(2024, 2, 29)?;
//! assert_eq!(d.to_value()?, Value::Int32(19782));
//! assert_eq!(Date::from_value(&Value::Int32(19782))?.to_string(), "2024-02-29");
//! # Ok::<(), timely_connect::data::DataError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use super::schema::{Schema, SchemaBuilder, SchemaRef, SchemaType};
use super::value::{DataError, Value};

/// Schema name of the Decimal logical type.
pub const DECIMAL_NAME: &str = "org.apache.kafka.connect.data.Decimal";
/// The Decimal schema parameter that holds the scale.
pub const DECIMAL_SCALE: &str = "scale";
/// Schema name of the Date logical type.
pub const DATE_NAME: &str = "org.apache.kafka.connect.data.Date";
/// Schema name of the Time logical type.
pub const TIME_NAME: &str = "org.apache.kafka.connect.data.Time";
/// Schema name of the Timestamp logical type.
pub const TIMESTAMP_NAME: &str = "org.apache.kafka.connect.data.Timestamp";

const MILLIS_PER_DAY: i64 = 86_400_000;

/// One of Kafka Connect's four logical types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogicalType {
    /// Arbitrary-precision decimal with a fixed scale.
    Decimal,
    /// Calendar date.
    Date,
    /// Time of day.
    Time,
    /// Instant in UTC.
    Timestamp,
}

impl LogicalType {
    /// The logical type with this schema name, if any.
    pub fn from_name(name: &str) -> Option<LogicalType> {
        match name {
            DECIMAL_NAME => Some(LogicalType::Decimal),
            DATE_NAME => Some(LogicalType::Date),
            TIME_NAME => Some(LogicalType::Time),
            TIMESTAMP_NAME => Some(LogicalType::Timestamp),
            _ => None,
        }
    }

    /// The logical type `schema` is named for, if any.
    pub fn of(schema: &Schema) -> Option<LogicalType> {
        schema.name.as_deref().and_then(LogicalType::from_name)
    }

    /// Kafka's schema name (`org.apache.kafka.connect.data.Decimal`, …).
    pub fn name(self) -> &'static str {
        match self {
            LogicalType::Decimal => DECIMAL_NAME,
            LogicalType::Date => DATE_NAME,
            LogicalType::Time => TIME_NAME,
            LogicalType::Timestamp => TIMESTAMP_NAME,
        }
    }

    /// The short name (`Decimal`, `Date`, `Time`, `Timestamp`).
    pub fn short_name(self) -> &'static str {
        match self {
            LogicalType::Decimal => "Decimal",
            LogicalType::Date => "Date",
            LogicalType::Time => "Time",
            LogicalType::Timestamp => "Timestamp",
        }
    }

    /// The primitive type that carries it.
    pub fn schema_type(self) -> SchemaType {
        match self {
            LogicalType::Decimal => SchemaType::Bytes,
            LogicalType::Date | LogicalType::Time => SchemaType::Int32,
            LogicalType::Timestamp => SchemaType::Int64,
        }
    }

    /// Checks a value whose primitive type already matches `schema`.
    pub(crate) fn check_value(self, schema: &Schema, value: &Value) -> Result<(), String> {
        self.check_schema_type(schema)?;
        match (self, value) {
            (LogicalType::Decimal, Value::Bytes(b)) => {
                scale_parameter(schema)?;
                if b.is_empty() {
                    return Err("Decimal value has no bytes".to_owned());
                }
            }
            (LogicalType::Time, Value::Int32(ms))
                if !(0..MILLIS_PER_DAY).contains(&i64::from(*ms)) =>
            {
                return Err(format!(
                    "Time value {ms} is not within a day (0..86400000 ms)"
                ));
            }
            _ => {}
        }
        Ok(())
    }

    fn check_schema_type(self, schema: &Schema) -> Result<(), String> {
        if schema.schema_type != self.schema_type() {
            return Err(format!(
                "logical type {} needs a {} schema, not {}",
                self.short_name(),
                self.schema_type(),
                schema.schema_type
            ));
        }
        Ok(())
    }
}

/// Checks a schema named for a logical type (used by `SchemaBuilder::try_build`).
pub(crate) fn check_schema(schema: &Schema) -> Result<(), DataError> {
    let Some(logical) = LogicalType::of(schema) else {
        return Ok(());
    };
    let res = logical
        .check_schema_type(schema)
        .and_then(|()| match logical {
            LogicalType::Decimal => scale_parameter(schema).map(|_| ()),
            _ => Ok(()),
        });
    res.map_err(|message| DataError::InvalidSchema {
        schema: logical.name().to_owned(),
        message,
    })
}

fn scale_parameter(schema: &Schema) -> Result<i32, String> {
    match schema.parameters.get(DECIMAL_SCALE) {
        Some(s) => s
            .trim()
            .parse::<i32>()
            .map_err(|_| format!("Decimal schema parameter `scale` is not an integer: {s:?}")),
        None => Err("Decimal schema has no `scale` parameter".to_owned()),
    }
}

fn logical_err(logical: LogicalType, message: impl Into<String>) -> DataError {
    DataError::Logical {
        logical: logical.short_name(),
        message: message.into(),
    }
}

/// The scale of a Decimal schema (its `scale` parameter).
pub fn decimal_scale(schema: &Schema) -> Result<i32, DataError> {
    if LogicalType::of(schema) != Some(LogicalType::Decimal) {
        return Err(logical_err(
            LogicalType::Decimal,
            format!("schema {schema} is not a Decimal schema"),
        ));
    }
    scale_parameter(schema).map_err(|m| logical_err(LogicalType::Decimal, m))
}

/// A builder for a Decimal schema of `scale` (Kafka's `Decimal.builder`).
pub fn decimal_builder(scale: i32) -> SchemaBuilder {
    SchemaBuilder::bytes()
        .name(DECIMAL_NAME)
        .parameter(DECIMAL_SCALE, &scale.to_string())
        .version(1)
}

/// A required Decimal schema of `scale` (Kafka's `Decimal.schema`).
pub fn decimal_schema(scale: i32) -> SchemaRef {
    decimal_builder(scale).build()
}

/// A builder for a Date schema (Kafka's `Date.builder`).
pub fn date_builder() -> SchemaBuilder {
    SchemaBuilder::int32().name(DATE_NAME).version(1)
}

/// A required Date schema (Kafka's `Date.SCHEMA`).
pub fn date_schema() -> SchemaRef {
    date_builder().build()
}

/// A builder for a Time schema (Kafka's `Time.builder`).
pub fn time_builder() -> SchemaBuilder {
    SchemaBuilder::int32().name(TIME_NAME).version(1)
}

/// A required Time schema (Kafka's `Time.SCHEMA`).
pub fn time_schema() -> SchemaRef {
    time_builder().build()
}

/// A builder for a Timestamp schema (Kafka's `Timestamp.builder`).
pub fn timestamp_builder() -> SchemaBuilder {
    SchemaBuilder::int64().name(TIMESTAMP_NAME).version(1)
}

/// A required Timestamp schema (Kafka's `Timestamp.SCHEMA`).
pub fn timestamp_schema() -> SchemaRef {
    timestamp_builder().build()
}

mod calendar;
mod decimal;
mod temporal;

use calendar::*;
pub use calendar::{civil_from_days, days_from_civil};
pub(crate) use calendar::{write_date, write_time, write_timestamp};
pub use decimal::Decimal;
pub(crate) use decimal::{u128_digits, write_decimal_bytes};
pub use temporal::{Date, Time, Timestamp};

#[cfg(test)]
mod tests;
