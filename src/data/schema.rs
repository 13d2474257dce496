//! Connect schemas: the type of a key or value, with optionality, defaults,
//! names, versions, docs and parameters, as in Kafka's `connect.data.Schema`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::value::Value;

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
        !matches!(self, SchemaType::Array | SchemaType::Map | SchemaType::Struct)
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

/// A Connect schema. Build one with [`SchemaBuilder`] or the constants such
/// as [`Schema::string`].
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
    /// Free-form parameters (Decimal keeps its `scale` here).
    pub parameters: BTreeMap<String, String>,
    /// Fields, for STRUCT.
    pub fields: Vec<Field>,
    /// Key schema, for MAP.
    pub key_schema: Option<SchemaRef>,
    /// Value schema, for MAP and ARRAY.
    pub value_schema: Option<SchemaRef>,
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
            parameters: BTreeMap::new(),
            fields: Vec::new(),
            key_schema: None,
            value_schema: None,
        }
    }

    /// Required STRING.
    pub fn string() -> SchemaRef {
        Arc::new(Schema::of(SchemaType::String))
    }

    /// Optional STRING (what FileStreamSource uses for its values).
    pub fn optional_string() -> SchemaRef {
        let mut s = Schema::of(SchemaType::String);
        s.optional = true;
        Arc::new(s)
    }

    /// The field called `name`, for STRUCT schemas.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// Builds a [`Schema`] step by step, like Kafka's `SchemaBuilder`.
///
/// ```
/// use timely_connect::data::{SchemaBuilder, SchemaType};
/// let s = SchemaBuilder::new(SchemaType::Int32).optional().name("n").build();
/// assert!(s.optional);
/// assert_eq!(s.name.as_deref(), Some("n"));
/// ```
#[derive(Clone, Debug)]
pub struct SchemaBuilder {
    schema: Schema,
}

impl SchemaBuilder {
    /// A builder for `schema_type`.
    pub fn new(schema_type: SchemaType) -> Self {
        SchemaBuilder { schema: Schema::of(schema_type) }
    }

    /// Allows `null`.
    pub fn optional(mut self) -> Self {
        self.schema.optional = true;
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
        self.schema.parameters.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Sets the default value (not checked here; see [`SchemaBuilder::try_build`]).
    pub fn default_value(mut self, value: Value) -> Self {
        self.schema.default = Some(value);
        self
    }

    /// Appends a field to a STRUCT schema.
    pub fn field(mut self, name: &str, schema: SchemaRef) -> Self {
        let index = self.schema.fields.len();
        self.schema.fields.push(Field { name: name.to_owned(), index, schema });
        self
    }

    /// Finishes the schema.
    pub fn build(self) -> SchemaRef {
        Arc::new(self.schema)
    }
}
