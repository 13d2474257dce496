//! Connect values and structs.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::schema::{SchemaRef, SchemaType};

/// A Connect value. Logical types are carried in their Kafka encodings
/// (Decimal as big-endian unscaled BYTES, Date as INT32 days, Time as INT32
/// milliseconds, Timestamp as INT64 milliseconds); see [`super::logical`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// Absent value (only where the schema is optional, or schemaless).
    Null,
    /// INT8.
    Int8(i8),
    /// INT16.
    Int16(i16),
    /// INT32.
    Int32(i32),
    /// INT64.
    Int64(i64),
    /// FLOAT32.
    Float32(f32),
    /// FLOAT64.
    Float64(f64),
    /// BOOLEAN.
    Boolean(bool),
    /// STRING.
    String(String),
    /// BYTES.
    Bytes(Vec<u8>),
    /// ARRAY.
    Array(Vec<Value>),
    /// MAP, as ordered entries (keys need not be strings).
    Map(Vec<(Value, Value)>),
    /// STRUCT.
    Struct(Struct),
}

impl Value {
    /// The schema type this value has, or `None` for `Null`.
    pub fn schema_type(&self) -> Option<SchemaType> {
        Some(match self {
            Value::Null => return None,
            Value::Int8(_) => SchemaType::Int8,
            Value::Int16(_) => SchemaType::Int16,
            Value::Int32(_) => SchemaType::Int32,
            Value::Int64(_) => SchemaType::Int64,
            Value::Float32(_) => SchemaType::Float32,
            Value::Float64(_) => SchemaType::Float64,
            Value::Boolean(_) => SchemaType::Boolean,
            Value::String(_) => SchemaType::String,
            Value::Bytes(_) => SchemaType::Bytes,
            Value::Array(_) => SchemaType::Array,
            Value::Map(_) => SchemaType::Map,
            Value::Struct(_) => SchemaType::Struct,
        })
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

/// A STRUCT value: one value per field of its schema, in field order.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Struct {
    schema: SchemaRef,
    values: Vec<Value>,
}

impl Struct {
    /// An empty struct of `schema`; every field starts as `Null`.
    pub fn new(schema: SchemaRef) -> Struct {
        let values = vec![Value::Null; schema.fields.len()];
        Struct { schema, values }
    }

    /// The struct's schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Field values in field order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The value of field `name` (`None` if there is no such field).
    pub fn get(&self, name: &str) -> Option<&Value> {
        let field = self.schema.field(name)?;
        self.values.get(field.index)
    }

    /// Sets field `name`, checking the value against the field's schema.
    pub fn put(&mut self, name: &str, value: Value) -> Result<&mut Struct, DataError> {
        let field = self.schema.field(name).ok_or_else(|| DataError::UnknownField {
            field: name.to_owned(),
            schema: self.schema.name.clone().unwrap_or_else(|| "struct".to_owned()),
        })?;
        super::schema_check::check_value(&field.schema, &value, name)?;
        let index = field.index;
        self.values[index] = value;
        Ok(self)
    }

    /// Checks every field against its schema (required fields must be set).
    pub fn validate(&self) -> Result<(), DataError> {
        for field in &self.schema.fields {
            super::schema_check::check_value(&field.schema, &self.values[field.index], &field.name)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Struct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Struct");
        for field in &self.schema.fields {
            d.field(&field.name, &self.values[field.index]);
        }
        d.finish()
    }
}

/// A value that does not fit its schema, or a schema that is malformed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    /// The value's type differs from the schema's.
    #[error("field `{field}`: expected {expected}, got {actual}")]
    TypeMismatch {
        /// Field path (`a.b.c`), or `value` at the top.
        field: String,
        /// What the schema asks for.
        expected: String,
        /// What the value is.
        actual: String,
    },
    /// `null` where the schema is required.
    #[error("field `{field}`: null value for a required {expected} schema")]
    NullForRequired {
        /// Field path.
        field: String,
        /// The required schema's type.
        expected: String,
    },
    /// A struct has no field of that name.
    #[error("no field `{field}` in {schema}")]
    UnknownField {
        /// The field asked for.
        field: String,
        /// The struct schema's name.
        schema: String,
    },
    /// A logical-type value is not valid (bad scale, out of range, …).
    #[error("field `{field}`: {message}")]
    Invalid {
        /// Field path.
        field: String,
        /// What is wrong.
        message: String,
    },
}
