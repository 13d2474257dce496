//! Connect schemas: the type of a key or value, with optionality, defaults,
//! names, versions, docs and parameters, as in Kafka's `connect.data.Schema`.

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use super::parameters::Parameters;
use super::value::{DataError, Value};

/// A shared schema. Records of one stream share one allocation.
pub type SchemaRef = Arc<Schema>;

/// The primitive and compound types of Kafka Connect's `Schema.Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SchemaType {
    /// 8-bit signed integer.
    Int8,
    /// 16-bit signed integer.
    Int16,
    /// 32-bit signed integer.
    Int32,
    /// 64-bit signed integer.
    Int64,
    /// 32-bit IEEE 754 float.
    Float32,
    /// 64-bit IEEE 754 float.
    Float64,
    /// Boolean.
    Boolean,
    /// UTF-8 string.
    String,
    /// Byte array.
    Bytes,
    /// Array of one value schema.
    Array,
    /// Map from a key schema to a value schema.
    Map,
    /// Struct of named, ordered fields.
    Struct,
}

impl SchemaType {
    /// Kafka's upper-case name (`INT32`, `STRUCT`, …).
    pub fn name(self) -> &'static str {
        match self {
            SchemaType::Int8 => "INT8",
            SchemaType::Int16 => "INT16",
            SchemaType::Int32 => "INT32",
            SchemaType::Int64 => "INT64",
            SchemaType::Float32 => "FLOAT32",
            SchemaType::Float64 => "FLOAT64",
            SchemaType::Boolean => "BOOLEAN",
            SchemaType::String => "STRING",
            SchemaType::Bytes => "BYTES",
            SchemaType::Array => "ARRAY",
            SchemaType::Map => "MAP",
            SchemaType::Struct => "STRUCT",
        }
    }

    /// True for every type but ARRAY, MAP and STRUCT.
    pub fn is_primitive(self) -> bool {
        !matches!(
            self,
            SchemaType::Array | SchemaType::Map | SchemaType::Struct
        )
    }
}

impl fmt::Display for SchemaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A named field of a STRUCT schema, with its position.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// Field name.
    pub name: String,
    /// Position in the struct (0-based).
    pub index: usize,
    /// The field's schema.
    pub schema: SchemaRef,
}

/// A Connect schema. Build one with [`SchemaBuilder`] or the shared
/// primitive schemas such as [`Schema::string`] and [`Schema::optional_int64`].
///
/// ```
/// use timely_connect::data::{Schema, SchemaType};
/// let s = Schema::optional_int64();
/// assert_eq!(s.schema_type, SchemaType::Int64);
/// assert!(s.optional);
/// assert_eq!(s.to_string(), "optional INT64");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// The type.
    pub schema_type: SchemaType,
    /// Whether `null` is allowed.
    pub optional: bool,
    /// Default value used when a value is missing.
    pub default: Option<Value>,
    /// Fully qualified name; logical types use theirs
    /// (`org.apache.kafka.connect.data.Decimal`, …).
    pub name: Option<String>,
    /// Schema version.
    pub version: Option<i32>,
    /// Documentation.
    pub doc: Option<String>,
    /// Free-form parameters (Decimal keeps its `scale` here), in the order
    /// they were added, as Kafka's `LinkedHashMap` keeps them (equality
    /// ignores the order, as Java's map equality does).
    pub parameters: Parameters,
    /// Fields, for STRUCT.
    pub fields: Vec<Field>,
    /// Key schema, for MAP.
    pub key_schema: Option<SchemaRef>,
    /// Value schema, for MAP and ARRAY.
    pub value_schema: Option<SchemaRef>,
}

/// Defines a pair of functions returning shared, process-wide primitive
/// schemas (one allocation each, cloned as an `Arc`).
macro_rules! primitive_schemas {
    ($($(#[$req_doc:meta])* $req:ident, $(#[$opt_doc:meta])* $opt:ident => $ty:ident;)*) => {
        $(
            $(#[$req_doc])*
            pub fn $req() -> SchemaRef {
                static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
                SCHEMA.get_or_init(|| Arc::new(Schema::of(SchemaType::$ty))).clone()
            }

            $(#[$opt_doc])*
            pub fn $opt() -> SchemaRef {
                static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
                SCHEMA
                    .get_or_init(|| {
                        let mut s = Schema::of(SchemaType::$ty);
                        s.optional = true;
                        Arc::new(s)
                    })
                    .clone()
            }
        )*
    };
}

impl Schema {
    /// A bare schema of `schema_type`: required, no name, no default.
    pub fn of(schema_type: SchemaType) -> Schema {
        Schema {
            schema_type,
            optional: false,
            default: None,
            name: None,
            version: None,
            doc: None,
            parameters: Parameters::new(),
            fields: Vec::new(),
            key_schema: None,
            value_schema: None,
        }
    }

    primitive_schemas! {
        /// Required INT8 (Kafka's `Schema.INT8_SCHEMA`).
        int8,
        /// Optional INT8 (Kafka's `Schema.OPTIONAL_INT8_SCHEMA`).
        optional_int8 => Int8;
        /// Required INT16.
        int16,
        /// Optional INT16.
        optional_int16 => Int16;
        /// Required INT32.
        int32,
        /// Optional INT32.
        optional_int32 => Int32;
        /// Required INT64.
        int64,
        /// Optional INT64.
        optional_int64 => Int64;
        /// Required FLOAT32.
        float32,
        /// Optional FLOAT32.
        optional_float32 => Float32;
        /// Required FLOAT64.
        float64,
        /// Optional FLOAT64.
        optional_float64 => Float64;
        /// Required BOOLEAN.
        boolean,
        /// Optional BOOLEAN.
        optional_boolean => Boolean;
        /// Required STRING.
        string,
        /// Optional STRING.
        optional_string => String;
        /// Required BYTES.
        bytes,
        /// Optional BYTES.
        optional_bytes => Bytes;
    }

    /// The field called `name`, for STRUCT schemas.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

impl fmt::Display for Schema {
    /// A compact, human-readable form: `optional INT32`,
    /// `ARRAY<STRING>`, `MAP<STRING, INT64>`,
    /// `STRUCT com.example.Row {id: INT64, name: optional STRING}`,
    /// `BYTES org.apache.kafka.connect.data.Decimal(scale=2)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.optional {
            f.write_str("optional ")?;
        }
        f.write_str(self.schema_type.name())?;
        match self.schema_type {
            SchemaType::Array => {
                f.write_str("<")?;
                write_opt_schema(f, self.value_schema.as_deref())?;
                f.write_str(">")?;
            }
            SchemaType::Map => {
                f.write_str("<")?;
                write_opt_schema(f, self.key_schema.as_deref())?;
                f.write_str(", ")?;
                write_opt_schema(f, self.value_schema.as_deref())?;
                f.write_str(">")?;
            }
            _ => {}
        }
        if let Some(name) = &self.name {
            write!(f, " {name}")?;
            if !self.parameters.is_empty() {
                f.write_str("(")?;
                for (i, (k, v)) in self.parameters.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}={v}")?;
                }
                f.write_str(")")?;
            }
        }
        if self.schema_type == SchemaType::Struct {
            f.write_str(" {")?;
            for (i, field) in self.fields.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{}: {}", field.name, field.schema)?;
            }
            f.write_str("}")?;
        }
        Ok(())
    }
}

fn write_opt_schema(f: &mut fmt::Formatter<'_>, schema: Option<&Schema>) -> fmt::Result {
    match schema {
        Some(s) => write!(f, "{s}"),
        None => f.write_str("?"),
    }
}

/// Builds a [`Schema`] step by step, like Kafka's `SchemaBuilder`.
///
/// ```
/// use timely_connect::data::{Schema, SchemaBuilder, SchemaType, Value};
/// let s = SchemaBuilder::new(SchemaType::Int32).optional().name("n").build();
/// assert!(s.optional);
/// assert_eq!(s.name.as_deref(), Some("n"));
///
/// let row = SchemaBuilder::struct_()
///     .name("com.example.Row")
///     .field("id", Schema::int64())
///     .field("tags", SchemaBuilder::array(Schema::string()).optional().build())
///     .try_build()
///     .unwrap();
/// assert_eq!(row.fields[1].index, 1);
///
/// // The default must fit the schema.
/// let bad = SchemaBuilder::int32().default_value(Value::from("x")).try_build();
/// assert!(bad.is_err());
/// ```
#[derive(Clone, Debug)]
pub struct SchemaBuilder {
    pub(super) schema: Schema,
    /// The first misuse seen while building (reported by `try_build`).
    pub(super) error: Option<DataError>,
}

impl SchemaBuilder {
    /// A builder for `schema_type`.
    pub fn new(schema_type: SchemaType) -> Self {
        SchemaBuilder {
            schema: Schema::of(schema_type),
            error: None,
        }
    }

    /// A builder for INT8.
    pub fn int8() -> Self {
        Self::new(SchemaType::Int8)
    }

    /// A builder for INT16.
    pub fn int16() -> Self {
        Self::new(SchemaType::Int16)
    }

    /// A builder for INT32.
    pub fn int32() -> Self {
        Self::new(SchemaType::Int32)
    }

    /// A builder for INT64.
    pub fn int64() -> Self {
        Self::new(SchemaType::Int64)
    }

    /// A builder for FLOAT32.
    pub fn float32() -> Self {
        Self::new(SchemaType::Float32)
    }

    /// A builder for FLOAT64.
    pub fn float64() -> Self {
        Self::new(SchemaType::Float64)
    }

    /// A builder for BOOLEAN.
    pub fn boolean() -> Self {
        Self::new(SchemaType::Boolean)
    }

    /// A builder for STRING.
    pub fn string() -> Self {
        Self::new(SchemaType::String)
    }

    /// A builder for BYTES.
    pub fn bytes() -> Self {
        Self::new(SchemaType::Bytes)
    }

    /// A builder for an ARRAY of `value_schema`.
    pub fn array(value_schema: SchemaRef) -> Self {
        let mut b = Self::new(SchemaType::Array);
        b.schema.value_schema = Some(value_schema);
        b
    }

    /// A builder for a MAP from `key_schema` to `value_schema`.
    pub fn map(key_schema: SchemaRef, value_schema: SchemaRef) -> Self {
        let mut b = Self::new(SchemaType::Map);
        b.schema.key_schema = Some(key_schema);
        b.schema.value_schema = Some(value_schema);
        b
    }

    /// A builder for a STRUCT; add fields with [`SchemaBuilder::field`].
    pub fn struct_() -> Self {
        Self::new(SchemaType::Struct)
    }

    /// Allows `null`.
    pub fn optional(mut self) -> Self {
        self.schema.optional = true;
        self
    }

    /// Forbids `null` (the default).
    pub fn required(mut self) -> Self {
        self.schema.optional = false;
        self
    }

    /// Sets the name.
    pub fn name(mut self, name: &str) -> Self {
        self.schema.name = Some(name.to_owned());
        self
    }

    /// Sets the version.
    pub fn version(mut self, version: i32) -> Self {
        self.schema.version = Some(version);
        self
    }

    /// Sets the documentation.
    pub fn doc(mut self, doc: &str) -> Self {
        self.schema.doc = Some(doc.to_owned());
        self
    }

    /// Adds a parameter.
    pub fn parameter(mut self, key: &str, value: &str) -> Self {
        self.schema
            .parameters
            .insert(key.to_owned(), value.to_owned());
        self
    }

    /// Sets the default value (not checked here; see [`SchemaBuilder::try_build`]).
    pub fn default_value(mut self, value: Value) -> Self {
        self.schema.default = Some(value);
        self
    }

    /// Appends a field to a STRUCT schema. Adding a field to a non-STRUCT
    /// schema, or a name twice, is reported by [`SchemaBuilder::try_build`].
    pub fn field(mut self, name: &str, schema: SchemaRef) -> Self {
        if self.error.is_none() {
            if self.schema.schema_type != SchemaType::Struct {
                self.error = Some(DataError::InvalidSchema {
                    schema: self.describe(),
                    message: format!(
                        "cannot add field `{name}` to a {} schema",
                        self.schema.schema_type
                    ),
                });
            } else if self.schema.field(name).is_some() {
                self.error = Some(DataError::DuplicateField {
                    field: name.to_owned(),
                    schema: self.describe(),
                });
            }
        }
        let index = self.schema.fields.len();
        self.schema.fields.push(Field {
            name: name.to_owned(),
            index,
            schema,
        });
        self
    }

    /// Finishes the schema without checking it; prefer
    /// [`SchemaBuilder::try_build`] wherever input decides the schema.
    pub fn build(self) -> SchemaRef {
        Arc::new(self.schema)
    }

    pub(super) fn describe(&self) -> String {
        match &self.schema.name {
            Some(n) => n.clone(),
            None => self.schema.schema_type.name().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitive_schemas_are_shared_and_have_their_types() {
        assert!(Arc::ptr_eq(&Schema::int32(), &Schema::int32()));
        assert_eq!(Schema::int8().schema_type, SchemaType::Int8);
        assert_eq!(Schema::optional_bytes().schema_type, SchemaType::Bytes);
        assert!(Schema::optional_float64().optional);
        assert!(!Schema::boolean().optional);
        assert!(Schema::optional_string().optional);
        assert_ne!(Schema::int16(), Schema::optional_int16());
    }

    #[test]
    fn try_build_rejects_duplicate_field_names() {
        let err = SchemaBuilder::struct_()
            .name("row")
            .field("a", Schema::int32())
            .field("a", Schema::string())
            .try_build()
            .unwrap_err();
        assert_eq!(
            err,
            DataError::DuplicateField {
                field: "a".into(),
                schema: "row".into()
            }
        );
    }

    #[test]
    fn try_build_rejects_fields_on_non_struct() {
        let err = SchemaBuilder::int32()
            .field("a", Schema::int32())
            .try_build()
            .unwrap_err();
        assert!(matches!(err, DataError::InvalidSchema { .. }), "{err}");
    }

    #[test]
    fn try_build_rejects_default_of_wrong_type() {
        let err = SchemaBuilder::int64()
            .default_value(Value::Int32(1))
            .try_build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `default`: expected INT64, got INT32"
        );
    }

    #[test]
    fn try_build_accepts_matching_default() {
        let s = SchemaBuilder::string()
            .default_value(Value::from("x"))
            .try_build()
            .unwrap();
        assert_eq!(s.default, Some(Value::from("x")));
    }

    #[test]
    fn try_build_rejects_array_without_value_schema() {
        assert!(SchemaBuilder::new(SchemaType::Array).try_build().is_err());
        assert!(SchemaBuilder::new(SchemaType::Map).try_build().is_err());
    }

    #[test]
    fn try_build_checks_logical_type_names() {
        let err = SchemaBuilder::int64()
            .name("org.apache.kafka.connect.data.Date")
            .try_build()
            .unwrap_err();
        assert!(err.to_string().contains("INT32"), "{err}");
        let err = SchemaBuilder::bytes()
            .name("org.apache.kafka.connect.data.Decimal")
            .try_build()
            .unwrap_err();
        assert!(err.to_string().contains("scale"), "{err}");
    }

    #[test]
    fn struct_builder_numbers_fields_in_order() {
        let s = SchemaBuilder::struct_()
            .field("a", Schema::int32())
            .field("b", Schema::string())
            .try_build()
            .unwrap();
        assert_eq!(s.field("b").map(|f| f.index), Some(1));
        assert!(s.field("c").is_none());
    }

    #[test]
    fn schema_display_is_readable() {
        let s = SchemaBuilder::struct_()
            .name("Row")
            .field("id", Schema::int64())
            .field("tags", SchemaBuilder::array(Schema::string()).build())
            .field(
                "m",
                SchemaBuilder::map(Schema::string(), Schema::optional_int32()).build(),
            )
            .field("d", super::super::logical::decimal_schema(2))
            .build();
        assert_eq!(
            s.to_string(),
            "STRUCT Row {id: INT64, tags: ARRAY<STRING>, m: MAP<STRING, optional INT32>, \
             d: BYTES org.apache.kafka.connect.data.Decimal(scale=2)}"
        );
    }
}
