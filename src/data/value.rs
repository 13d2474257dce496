//! Connect values and structs.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::schema::{Schema, SchemaRef, SchemaType};

/// A Connect value. Logical types are carried in their Kafka encodings
/// (Decimal as big-endian unscaled BYTES, Date as INT32 days, Time as INT32
/// milliseconds, Timestamp as INT64 milliseconds); see [`super::logical`].
///
/// Plain Rust values convert with `From`:
///
/// ```
/// use timely_connect::data::Value;
/// assert_eq!(Value::from(7i32), Value::Int32(7));
/// assert_eq!(Value::from("hi").as_str(), Some("hi"));
/// assert_eq!(Value::from(vec![1u8, 2]), Value::Bytes(vec![1, 2]));
/// assert!(Value::Null.is_null());
/// ```
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

    /// True for `Null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Any integer type widened to `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int8(v) => Some(v.into()),
            Value::Int16(v) => Some(v.into()),
            Value::Int32(v) => Some(v.into()),
            Value::Int64(v) => Some(v),
            _ => None,
        }
    }

    /// Either float type widened to `f64`.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Float32(v) => Some(v.into()),
            Value::Float64(v) => Some(v),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Boolean(b) => Some(b),
            _ => None,
        }
    }

    /// The bytes, if this is BYTES.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The struct, if this is one.
    pub fn as_struct(&self) -> Option<&Struct> {
        match self {
            Value::Struct(s) => Some(s),
            _ => None,
        }
    }

    /// Kafka's name of this value's type (`INT32`, …), or `NULL`.
    pub fn type_name(&self) -> &'static str {
        self.schema_type().map_or("NULL", SchemaType::name)
    }
}

macro_rules! value_from {
    ($($t:ty => $variant:ident),* $(,)?) => {
        $(
            impl From<$t> for Value {
                fn from(v: $t) -> Value {
                    Value::$variant(v.into())
                }
            }
        )*
    };
}

value_from! {
    i8 => Int8,
    i16 => Int16,
    i32 => Int32,
    i64 => Int64,
    f32 => Float32,
    f64 => Float64,
    bool => Boolean,
    String => String,
    &str => String,
    Vec<u8> => Bytes,
    &[u8] => Bytes,
    Vec<Value> => Array,
    Struct => Struct,
}

/// A STRUCT value: one value per field of its schema, in field order.
///
/// Values are checked against the field's schema when put; a `null` field
/// reads as the field's default, as in Kafka's `Struct.get`.
///
/// ```
/// use timely_connect::data::{Schema, SchemaBuilder, Struct, Value};
/// let schema = SchemaBuilder::struct_()
///     .name("com.example.User")
///     .field("id", Schema::int64())
///     .field("name", Schema::optional_string())
///     .try_build()
///     .unwrap();
/// let mut user = Struct::new(schema);
/// user.put("id", 42i64.into())?.put("name", "ada".into())?;
/// assert_eq!(user.get("id"), Some(&Value::Int64(42)));
/// user.validate()?;
///
/// let err = user.put("id", "x".into()).unwrap_err();
/// assert_eq!(err.to_string(), "field `id`: expected INT64, got STRING");
/// # Ok::<(), timely_connect::data::DataError>(())
/// ```
///
/// A struct owns its values, or shares them: one made by
/// [`Struct::from_iter_parts`] or [`Struct::into_shared`] is cloned by
/// sharing its values (copied on the first change to either clone), so a
/// block that many records carry, such as a connector's `source`, is
/// built once.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "StructRepr")]
pub struct Struct {
    pub(super) schema: SchemaRef,
    pub(super) values: Values,
}

/// A struct's values: owned (a clone copies them) or shared (a clone
/// shares them). Serialized as the sequence of values either way.
#[derive(Clone)]
pub(super) enum Values {
    Owned(Vec<Value>),
    Shared(Arc<[Value]>),
}

impl Values {
    fn as_slice(&self) -> &[Value] {
        match self {
            Values::Owned(v) => v,
            Values::Shared(v) => v,
        }
    }

    pub(super) fn as_mut_slice(&mut self) -> &mut [Value] {
        match self {
            Values::Owned(v) => v,
            Values::Shared(v) => Arc::make_mut(v),
        }
    }
}

impl Serialize for Values {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.as_slice().serialize(serializer)
    }
}

impl PartialEq for Struct {
    fn eq(&self, other: &Struct) -> bool {
        self.schema == other.schema && self.values() == other.values()
    }
}

/// The wire form of a [`Struct`], checked on the way in so a malformed
/// message cannot make a struct whose values do not line up with its fields.
#[derive(Deserialize)]
struct StructRepr {
    schema: SchemaRef,
    values: Vec<Value>,
}

impl TryFrom<StructRepr> for Struct {
    type Error = DataError;

    fn try_from(r: StructRepr) -> Result<Struct, DataError> {
        let lined_up = r.schema.fields.len() == r.values.len()
            && r.schema
                .fields
                .iter()
                .enumerate()
                .all(|(i, f)| f.index == i);
        if r.schema.schema_type != SchemaType::Struct || !lined_up {
            return Err(DataError::InvalidSchema {
                schema: describe(&r.schema),
                message: format!(
                    "struct of {} values does not match its {} schema with {} fields",
                    r.values.len(),
                    r.schema.schema_type,
                    r.schema.fields.len()
                ),
            });
        }
        Ok(Struct {
            schema: r.schema,
            values: Values::Owned(r.values),
        })
    }
}

pub(super) fn describe(schema: &Schema) -> String {
    schema.name.clone().unwrap_or_else(|| "struct".to_owned())
}

impl Struct {
    /// An empty struct of `schema`; every field starts as `Null`.
    pub fn new(schema: SchemaRef) -> Struct {
        let values = Values::Owned(vec![Value::Null; schema.fields.len()]);
        Struct { schema, values }
    }

    /// The struct's schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Field values in field order (`Null` where unset; defaults not applied).
    pub fn values(&self) -> &[Value] {
        self.values.as_slice()
    }

    /// The value of field `name` (`None` if there is no such field). A
    /// `Null` field with a default reads as the default, as in Kafka.
    pub fn get(&self, name: &str) -> Option<&Value> {
        let field = self.schema.field(name)?;
        let value = self.values().get(field.index)?;
        match (value, &field.schema.default) {
            (Value::Null, Some(default)) => Some(default),
            _ => Some(value),
        }
    }

    /// The value of field `name` as set, ignoring defaults (Kafka's
    /// `getWithoutDefault`).
    pub fn get_without_default(&self, name: &str) -> Option<&Value> {
        let field = self.schema.field(name)?;
        self.values().get(field.index)
    }

    /// Builder-style [`Struct::put`]: sets field `name` and returns the struct.
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Result<Struct, DataError> {
        self.put(name, value.into())?;
        Ok(self)
    }

    /// Takes the struct apart into its schema and its field values (in
    /// field order, defaults not applied): moved out unless a clone shares
    /// them, copied then.
    pub fn into_parts(self) -> (SchemaRef, Vec<Value>) {
        let values = match self.values {
            Values::Owned(v) => v,
            Values::Shared(mut shared) => match Arc::get_mut(&mut shared) {
                Some(only) => only
                    .iter_mut()
                    .map(|v| std::mem::replace(v, Value::Null))
                    .collect(),
                None => shared.to_vec(),
            },
        };
        (self.schema, values)
    }

    /// The struct with its values shared: its clones share them rather than
    /// copy them (see [`Struct::is_shared`]).
    pub fn into_shared(self) -> Struct {
        let values = match self.values {
            Values::Owned(v) => Values::Shared(v.into()),
            shared => shared,
        };
        Struct {
            schema: self.schema,
            values,
        }
    }

    /// Mutable access to the field values, in field order, for code that
    /// keeps each value within its field's schema (transforms that mask
    /// or convert a value in place). Not checked; see [`Struct::validate`].
    pub fn values_mut(&mut self) -> &mut [Value] {
        self.values.as_mut_slice()
    }

    /// Whether other clones share this struct's field values.
    pub fn is_shared(&self) -> bool {
        matches!(&self.values, Values::Shared(v) if Arc::strong_count(v) > 1)
    }

    /// Whether `self` and `other` share their field values (one is a clone
    /// of the other, neither changed since): then they are equal, and a
    /// rendering of one is a rendering of the other.
    pub fn shares_values(&self, other: &Struct) -> bool {
        match (&self.values, &other.values) {
            (Values::Shared(a), Values::Shared(b)) => {
                Arc::ptr_eq(a, b) && Arc::ptr_eq(&self.schema, &other.schema)
            }
            _ => false,
        }
    }

    /// A struct of `schema` from one value per field, in field order,
    /// without checking each value against its field's schema (the caller
    /// vouches for them, e.g. values moved out of a struct of a schema with
    /// the same field schemas). Fails only when the count does not match
    /// the schema's fields or the schema is not a STRUCT.
    pub fn from_parts(schema: SchemaRef, values: Vec<Value>) -> Result<Struct, DataError> {
        Struct::checked(schema, Values::Owned(values))
    }

    /// [`Struct::from_parts`] of a struct whose values are shared (see
    /// [`Struct::into_shared`]), from any values in field order: an array,
    /// a `map` over a slice or a `drain` is moved into the shared storage
    /// with one allocation and no copy.
    pub fn from_iter_parts(
        schema: SchemaRef,
        values: impl IntoIterator<Item = Value>,
    ) -> Result<Struct, DataError> {
        Struct::checked(schema, Values::Shared(values.into_iter().collect()))
    }

    fn checked(schema: SchemaRef, values: Values) -> Result<Struct, DataError> {
        let len = values.as_slice().len();
        if schema.schema_type != SchemaType::Struct || schema.fields.len() != len {
            return Err(DataError::InvalidSchema {
                schema: describe(&schema),
                message: format!(
                    "struct of {} values does not match its {} schema with {} fields",
                    len,
                    schema.schema_type,
                    schema.fields.len()
                ),
            });
        }
        Ok(Struct { schema, values })
    }
}

impl fmt::Debug for Struct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Struct");
        for (field, value) in self.schema.fields.iter().zip(self.values()) {
            d.field(&field.name, value);
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
    #[error(
        "field `{field}`: null value for field that is required and has no default value ({expected})"
    )]
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
    /// A schema that is malformed (a field on a non-STRUCT, a MAP with no
    /// key schema, a logical type on the wrong type, …).
    #[error("invalid schema {schema}: {message}")]
    InvalidSchema {
        /// The schema's name, or its type if it has none.
        schema: String,
        /// What is wrong.
        message: String,
    },
    /// A STRUCT schema names a field twice.
    #[error("duplicate field `{field}` in {schema}")]
    DuplicateField {
        /// The repeated name.
        field: String,
        /// The struct schema's name, or `STRUCT`.
        schema: String,
    },
    /// A logical-type conversion failed (not tied to a field path).
    #[error("{logical}: {message}")]
    Logical {
        /// The logical type (`Decimal`, `Date`, `Time`, `Timestamp`).
        logical: &'static str,
        /// What is wrong.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SchemaBuilder;

    fn text_ptr(v: &Value) -> *const u8 {
        match v {
            Value::String(s) => s.as_ptr(),
            other => panic!("not a string: {other:?}"),
        }
    }

    /// Owned values and shared ones no clone holds are given up without
    /// copying; values a clone shares are copied, the clone keeps its own.
    /// Owned structs clone by copying; shared ones by sharing.
    #[test]
    fn into_parts_moves_unshared_values_and_copies_shared_ones() {
        let schema = SchemaBuilder::struct_()
            .field("s", Schema::string())
            .build();
        let owned = Struct::from_parts(schema.clone(), vec![Value::from("kept")]).unwrap();
        let copy = owned.clone();
        assert!(!copy.shares_values(&owned) && !owned.is_shared());
        assert_ne!(text_ptr(&copy.values()[0]), text_ptr(&owned.values()[0]));
        let before = text_ptr(&owned.values()[0]);
        let (_, values) = owned.into_parts();
        assert_eq!(values, vec![Value::from("kept")]);
        assert_eq!(text_ptr(&values[0]), before, "moved, not copied");

        let alone = Struct::from_iter_parts(schema.clone(), [Value::from("alone")]).unwrap();
        let before = text_ptr(&alone.values()[0]);
        let (_, values) = alone.into_parts();
        assert_eq!(text_ptr(&values[0]), before, "moved, not copied");

        let shared = Struct::from_parts(schema, vec![Value::from("both")])
            .unwrap()
            .into_shared();
        let clone = shared.clone();
        assert!(clone.shares_values(&shared) && shared.is_shared());
        assert_eq!(clone, shared);
        let (_, values) = shared.into_parts();
        assert_eq!(values, vec![Value::from("both")]);
        assert_ne!(text_ptr(&values[0]), text_ptr(&clone.values()[0]));
        assert_eq!(clone.values(), &[Value::from("both")]);
        assert!(!clone.is_shared(), "the last holder");
    }

    /// Owned and shared structs of the same values are equal, and encode
    /// the same (the wire form does not depend on the storage).
    #[test]
    fn owned_and_shared_structs_are_equal_and_encode_alike() {
        let schema = SchemaBuilder::struct_()
            .field("a", Schema::int32())
            .field("b", Schema::optional_string())
            .build();
        let owned = Struct::from_parts(schema.clone(), vec![Value::Int32(1), Value::Null]).unwrap();
        let shared = Struct::from_iter_parts(schema, [Value::Int32(1), Value::Null]).unwrap();
        assert_eq!(owned, shared);
        let a = bincode::serialize(&Value::Struct(owned)).unwrap();
        let b = bincode::serialize(&Value::Struct(shared)).unwrap();
        assert_eq!(a, b);
        let back: Value = bincode::deserialize(&b).unwrap();
        assert_eq!(
            back.as_struct().unwrap().values(),
            &[Value::Int32(1), Value::Null]
        );
    }
}
