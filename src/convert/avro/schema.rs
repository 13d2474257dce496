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

// ------------------------------------------------------------ Connect → Avro

struct FromConnect {
    meta: bool,
    /// Named Avro types written so far, with the Connect schema (made
    /// required) that defined them: a second use writes the name only.
    defined: HashMap<String, Schema>,
}

impl FromConnect {
    fn err(schema: &Schema, message: impl Into<String>) -> AvroError {
        AvroError::ToAvro {
            schema: describe(schema),
            message: message.into(),
        }
    }

    /// `schema` (with its optionality) inside namespace `ns`.
    fn schema(&mut self, schema: &Schema, ns: Option<&str>) -> Result<Json, AvroError> {
        if is_union_struct(schema) {
            let mut members = Vec::new();
            if schema.optional {
                members.push(Json::str("null"));
            }
            for field in &schema.fields {
                members.push(self.base(&field.schema, ns)?);
            }
            return Ok(Json::Arr(members));
        }
        let base = self.base(schema, ns)?;
        if !schema.optional {
            return Ok(base);
        }
        Ok(if schema.default.is_some() {
            Json::Arr(vec![base, Json::str("null")])
        } else {
            Json::Arr(vec![Json::str("null"), base])
        })
    }

    /// A reference to an already written named type, or `None` (and the
    /// name is claimed) if it is new.
    fn reference(
        &mut self,
        schema: &Schema,
        full: &str,
        ns: Option<&str>,
    ) -> Result<Option<Json>, AvroError> {
        let mut required = schema.clone();
        required.optional = false;
        match self.defined.get(full) {
            Some(previous) if *previous == required => {
                let (space, name) = split_name(full);
                Ok(Some(if space.is_none() || space == ns {
                    Json::str(name)
                } else {
                    Json::str(full)
                }))
            }
            Some(_) => Err(Self::err(
                schema,
                format!("two different schemas map to the Avro name `{full}`"),
            )),
            None => {
                self.defined.insert(full.to_owned(), required);
                Ok(None)
            }
        }
    }

    /// The `name`/`namespace` attributes of a named type, Avro Java style:
    /// the namespace is written only when it differs from the enclosing one.
    fn name_attrs(
        out: &mut Vec<(String, Json)>,
        space: Option<&str>,
        name: &str,
        ns: Option<&str>,
    ) {
        out.push(("name".into(), Json::str(name)));
        match space {
            Some(s) if Some(s) != ns => out.push(("namespace".into(), Json::str(s))),
            None if ns.is_some() => out.push(("namespace".into(), Json::str(""))),
            _ => {}
        }
    }

    fn field(
        &mut self,
        name: &str,
        schema: &Schema,
        doc: Option<&str>,
        ns: Option<&str>,
    ) -> Result<Json, AvroError> {
        let mut attrs = vec![
            ("name".to_owned(), Json::str(name)),
            ("type".to_owned(), self.schema(schema, ns)?),
        ];
        if let Some(doc) = doc {
            attrs.push(("doc".into(), Json::str(doc)));
        }
        if let Some(default) = &schema.default {
            attrs.push((
                "default".into(),
                Json::Plain(default_json(schema, default)?),
            ));
        } else if schema.optional {
            attrs.push(("default".into(), Json::Plain(JsonValue::Null)));
        }
        Ok(Json::Obj(attrs))
    }

    /// The type without optionality, with its `connect.*` properties.
    fn base(&mut self, schema: &Schema, ns: Option<&str>) -> Result<Json, AvroError> {
        let (space, name) = match &schema.name {
            Some(full) => split_name(full),
            None => (Some(NAMESPACE), DEFAULT_SCHEMA_NAME),
        };
        let logical = schema.name.as_deref().and_then(|n| {
            [DECIMAL_NAME, DATE_NAME, TIME_NAME, TIMESTAMP_NAME]
                .into_iter()
                .find(|l| l.eq_ignore_ascii_case(n))
                .and_then(LogicalType::from_name)
        });
        let mut connect_type = None;
        let mut attrs: Vec<(String, Json)>;
        let primitive = |t: &str| vec![("type".to_owned(), Json::str(t))];
        match schema.schema_type {
            SchemaType::Int8 => {
                connect_type = Some("int8");
                attrs = primitive("int");
            }
            SchemaType::Int16 => {
                connect_type = Some("int16");
                attrs = primitive("int");
            }
            SchemaType::Int32 => attrs = primitive("int"),
            SchemaType::Int64 => attrs = primitive("long"),
            SchemaType::Float32 => attrs = primitive("float"),
            SchemaType::Float64 => attrs = primitive("double"),
            SchemaType::Boolean => attrs = primitive("boolean"),
            SchemaType::String => attrs = primitive("string"),
            SchemaType::Bytes => {
                attrs = primitive("bytes");
                if logical == Some(LogicalType::Decimal) {
                    let scale = logical::decimal_scale(schema)?;
                    let precision = match schema.parameters.get(CONNECT_AVRO_DECIMAL_PRECISION_PROP)
                    {
                        Some(p) => p.trim().parse::<i64>().map_err(|_| {
                            Self::err(
                                schema,
                                format!(
                                    "{CONNECT_AVRO_DECIMAL_PRECISION_PROP} `{p}` is not an integer"
                                ),
                            )
                        })?,
                        None => CONNECT_AVRO_DECIMAL_PRECISION_DEFAULT,
                    };
                    attrs.push(("scale".into(), Json::Plain(scale.into())));
                    attrs.push(("precision".into(), Json::Plain(precision.into())));
                }
            }
            SchemaType::Array => {
                let items = schema
                    .value_schema
                    .as_deref()
                    .ok_or_else(|| Self::err(schema, "ARRAY without a value schema"))?;
                attrs = primitive("array");
                attrs.push(("items".into(), self.schema(items, ns)?));
            }
            SchemaType::Map => {
                let (Some(key), Some(value)) =
                    (schema.key_schema.as_deref(), schema.value_schema.as_deref())
                else {
                    return Err(Self::err(schema, "MAP without key and value schemas"));
                };
                attrs = primitive(if is_string_map_key(key) {
                    "map"
                } else {
                    "array"
                });
                if is_string_map_key(key) {
                    attrs.push(("values".into(), self.schema(value, ns)?));
                } else {
                    let (entry_space, entry_name) = match &schema.name {
                        None => (Some(NAMESPACE), MAP_ENTRY_TYPE_NAME),
                        Some(_) => (space, name),
                    };
                    let full = match entry_space {
                        Some(s) => format!("{s}.{entry_name}"),
                        None => entry_name.to_owned(),
                    };
                    let items = match self.reference(schema, &full, ns)? {
                        Some(reference) => reference,
                        None => {
                            let mut record = primitive("record");
                            Self::name_attrs(&mut record, entry_space, entry_name, ns);
                            let fields = vec![
                                self.field(KEY_FIELD, key, None, entry_space)?,
                                self.field(VALUE_FIELD, value, None, entry_space)?,
                            ];
                            record.push(("fields".into(), Json::Arr(fields)));
                            if schema.name.is_some() {
                                record.push((
                                    CONNECT_INTERNAL_TYPE_NAME.into(),
                                    Json::str(MAP_ENTRY_TYPE_NAME),
                                ));
                            }
                            Json::Obj(record)
                        }
                    };
                    attrs.push(("items".into(), items));
                }
            }
            SchemaType::Struct => {
                let full = match space {
                    Some(s) => format!("{s}.{name}"),
                    None => name.to_owned(),
                };
                if let Some(reference) = self.reference(schema, &full, ns)? {
                    return Ok(reference);
                }
                attrs = primitive("record");
                Self::name_attrs(&mut attrs, space, name, ns);
                if let Some(doc) = schema.parameters.get(AVRO_RECORD_DOC_PROP) {
                    attrs.push(("doc".into(), Json::str(doc)));
                }
                let mut fields = Vec::with_capacity(schema.fields.len());
                for field in &schema.fields {
                    let doc = schema
                        .parameters
                        .get(&format!("{AVRO_FIELD_DOC_PREFIX_PROP}{}", field.name));
                    fields.push(self.field(
                        &field.name,
                        &field.schema,
                        doc.map(String::as_str),
                        space,
                    )?);
                }
                attrs.push(("fields".into(), Json::Arr(fields)));
            }
        }

        let attrs_before_props = attrs.len();
        if self.meta {
            if let Some(doc) = &schema.doc {
                attrs.push((CONNECT_DOC_PROP.into(), Json::str(doc)));
            }
            if let Some(version) = schema.version {
                attrs.push((CONNECT_VERSION_PROP.into(), Json::Plain(version.into())));
            }
            let params: Vec<(String, Json)> = schema
                .parameters
                .iter()
                .filter(|(k, _)| k.as_str() != AVRO_FIELD_DEFAULT_FLAG_PROP)
                .map(|(k, v)| (k.clone(), Json::str(v)))
                .collect();
            if !params.is_empty() {
                attrs.push((CONNECT_PARAMETERS_PROP.into(), Json::Obj(params)));
            }
            if let Some(default) = &schema.default {
                if !schema.parameters.contains_key(AVRO_FIELD_DEFAULT_FLAG_PROP) {
                    attrs.push((
                        CONNECT_DEFAULT_VALUE_PROP.into(),
                        Json::Plain(default_json(schema, default)?),
                    ));
                }
            }
            if let Some(name) = &schema.name {
                attrs.push((CONNECT_NAME_PROP.into(), Json::str(name)));
            }
            if let Some(t) = connect_type {
                attrs.push((CONNECT_TYPE_PROP.into(), Json::str(t)));
            }
        }
        let logical_type = match logical {
            Some(LogicalType::Decimal) if schema.schema_type == SchemaType::Bytes => {
                Some("decimal")
            }
            Some(LogicalType::Date) if schema.schema_type == SchemaType::Int32 => Some("date"),
            Some(LogicalType::Time) if schema.schema_type == SchemaType::Int32 => {
                Some("time-millis")
            }
            Some(LogicalType::Timestamp) if schema.schema_type == SchemaType::Int64 => {
                Some("timestamp-millis")
            }
            _ => None,
        };
        if let Some(lt) = logical_type {
            attrs.push(("logicalType".into(), Json::str(lt)));
        }
        for (k, v) in &schema.parameters {
            if k.starts_with(AVRO_PROP_PREFIX) {
                attrs.push((k.clone(), Json::str(v)));
            }
        }
        // A primitive without properties is written as its bare name.
        if attrs.len() == 1 && attrs_before_props == 1 {
            if let Some((_, t)) = attrs.pop() {
                return Ok(t);
            }
        }
        Ok(Json::Obj(attrs))
    }
}

/// A Connect value as an Avro JSON default (Confluent's
/// `defaultValueFromConnect`): BYTES as ISO-8859-1 text, a MAP with
/// non-string keys as a list of `{"key", "value"}` objects.
fn default_json(schema: &Schema, value: &Value) -> Result<JsonValue, AvroError> {
    let bad = |what: &str| AvroError::ToAvro {
        schema: describe(schema),
        message: format!("default value: {what}"),
    };
    let float = |f: f64, text: String| {
        // Shortest text that reads back to the same value.
        let parsed: f64 = text.parse().unwrap_or(f);
        serde_json::Number::from_f64(parsed)
            .map(JsonValue::Number)
            .ok_or_else(|| bad("NaN and infinity cannot be written as JSON"))
    };
    Ok(match value {
        Value::Null => JsonValue::Null,
        Value::Int8(v) => (*v).into(),
        Value::Int16(v) => (*v).into(),
        Value::Int32(v) => (*v).into(),
        Value::Int64(v) => (*v).into(),
        Value::Float32(v) => float(f64::from(*v), v.to_string())?,
        Value::Float64(v) => float(*v, v.to_string())?,
        Value::Boolean(v) => (*v).into(),
        Value::String(v) => v.clone().into(),
        Value::Bytes(v) => JsonValue::String(v.iter().map(|&b| char::from(b)).collect()),
        Value::Array(items) => {
            let item_schema = schema
                .value_schema
                .as_deref()
                .ok_or_else(|| bad("ARRAY without a value schema"))?;
            JsonValue::Array(
                items
                    .iter()
                    .map(|i| default_json(item_schema, i))
                    .collect::<Result<_, _>>()?,
            )
        }
        Value::Map(entries) => {
            let (Some(ks), Some(vs)) =
                (schema.key_schema.as_deref(), schema.value_schema.as_deref())
            else {
                return Err(bad("MAP without key and value schemas"));
            };
            if is_string_map_key(ks) {
                let mut object = serde_json::Map::new();
                for (k, v) in entries {
                    let Value::String(k) = k else {
                        return Err(bad("a MAP key that is not a STRING"));
                    };
                    object.insert(k.clone(), default_json(vs, v)?);
                }
                JsonValue::Object(object)
            } else {
                let mut list = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    let mut entry = serde_json::Map::new();
                    entry.insert(KEY_FIELD.into(), default_json(ks, k)?);
                    entry.insert(VALUE_FIELD.into(), default_json(vs, v)?);
                    list.push(JsonValue::Object(entry));
                }
                JsonValue::Array(list)
            }
        }
        Value::Struct(s) => {
            let mut object = serde_json::Map::new();
            for field in &schema.fields {
                let v = s.get(&field.name).unwrap_or(&Value::Null);
                object.insert(field.name.clone(), default_json(&field.schema, v)?);
            }
            JsonValue::Object(object)
        }
    })
}

// ------------------------------------------------------------ Avro → Connect

struct ToConnect<'a> {
    meta: bool,
    /// Named types seen so far: full name → (definition, enclosing namespace).
    named: HashMap<String, (&'a JsonValue, Option<String>)>,
    /// Records being converted (a reference to one is a recursive schema).
    in_progress: HashSet<String>,
}

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

fn full_name(name: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if !name.contains('.') && !ns.is_empty() => format!("{ns}.{name}"),
        _ => name.to_owned(),
    }
}

fn is_null_schema(j: &JsonValue) -> bool {
    match j {
        JsonValue::String(s) => s == "null",
        JsonValue::Object(o) => o.get("type").is_some_and(is_null_schema),
        _ => false,
    }
}

type Props = serde_json::Map<String, JsonValue>;

impl<'a> ToConnect<'a> {
    fn err(message: impl Into<String>) -> AvroError {
        AvroError::ToConnect(message.into())
    }

    /// Converts `j`, found in namespace `ns`. `force_optional`: it is the
    /// non-null branch of a union with null. `field_default`: the default
    /// of the record field whose type it is.
    fn convert(
        &mut self,
        j: &'a JsonValue,
        ns: Option<&str>,
        force_optional: bool,
        field_default: Option<&'a JsonValue>,
    ) -> Result<(SchemaRef, Dec), AvroError> {
        static EMPTY: std::sync::OnceLock<Props> = std::sync::OnceLock::new();
        match j {
            JsonValue::String(t) => {
                if PRIMITIVES.contains(&t.as_str()) {
                    let empty = EMPTY.get_or_init(Props::new);
                    self.typed(t, empty, j, ns, force_optional, field_default)
                } else {
                    self.reference(t, ns, force_optional, field_default)
                }
            }
            JsonValue::Array(members) => self.union(members, ns, force_optional, field_default),
            JsonValue::Object(o) => match o.get("type") {
                Some(JsonValue::String(t)) => {
                    if PRIMITIVES.contains(&t.as_str())
                        || ["record", "error", "enum", "fixed", "array", "map"]
                            .contains(&t.as_str())
                    {
                        self.typed(t, o, j, ns, force_optional, field_default)
                    } else {
                        self.reference(t, ns, force_optional, field_default)
                    }
                }
                Some(inner @ (JsonValue::Object(_) | JsonValue::Array(_))) => {
                    self.convert(inner, ns, force_optional, field_default)
                }
                _ => Err(Self::err(format!(
                    "a schema object without a valid `type`: {j}"
                ))),
            },
            other => Err(Self::err(format!("not an Avro schema: {other}"))),
        }
    }

    fn reference(
        &mut self,
        name: &str,
        ns: Option<&str>,
        force_optional: bool,
        field_default: Option<&'a JsonValue>,
    ) -> Result<(SchemaRef, Dec), AvroError> {
        let full = full_name(name, ns);
        let (definition, def_ns) = match self.named.get(&full).or_else(|| self.named.get(name)) {
            Some((d, n)) => (*d, n.clone()),
            None => return Err(Self::err(format!("unknown type `{full}`"))),
        };
        if self.in_progress.contains(&full) {
            return Err(Self::err(format!(
                "`{full}` refers to itself; Kafka Connect schemas cannot be recursive"
            )));
        }
        // Convert the definition again (named types are usually small; the
        // result is cached per schema id by the converter).
        match (
            definition.get("type").and_then(JsonValue::as_str),
            definition.as_object(),
        ) {
            (Some(t), Some(o)) => self.typed(
                t,
                o,
                definition,
                def_ns.as_deref(),
                force_optional,
                field_default,
            ),
            _ => Err(Self::err(format!("bad definition of `{full}`"))),
        }
    }

    fn union(
        &mut self,
        members: &'a [JsonValue],
        ns: Option<&str>,
        force_optional: bool,
        field_default: Option<&'a JsonValue>,
    ) -> Result<(SchemaRef, Dec), AvroError> {
        if members.len() == 2 {
            if let Some(null_index) = members.iter().position(is_null_schema) {
                let other = &members[1 - null_index];
                // An Avro default belongs to the first member.
                let default = if null_index == 1 {
                    field_default.filter(|d| !d.is_null())
                } else {
                    None
                };
                let (schema, dec) = self.convert(other, ns, true, default)?;
                return Ok((
                    schema,
                    Dec::Optional {
                        null_index: null_index as i64,
                        inner: Box::new(dec),
                    },
                ));
            }
        }
        let mut schema = Schema::of(SchemaType::Struct);
        schema.name = Some(AVRO_TYPE_UNION.to_owned());
        schema.optional = force_optional;
        let mut branches = Vec::with_capacity(members.len());
        for member in members {
            if is_null_schema(member) {
                schema.optional = true;
                branches.push(None);
                continue;
            }
            let (member_schema, dec) = self.convert(member, ns, true, None)?;
            let field_name = match (&member_schema.schema_type, member_schema.name.as_deref()) {
                (SchemaType::Struct, Some(n)) => split_name(n).1.to_owned(),
                (SchemaType::Struct, None) => DEFAULT_SCHEMA_NAME.to_owned(),
                (SchemaType::String, _)
                    if member_schema.parameters.contains_key(AVRO_TYPE_ENUM) =>
                {
                    let full = &member_schema.parameters[AVRO_TYPE_ENUM];
                    split_name(full).1.to_owned()
                }
                _ => avro_type_name(member).to_owned(),
            };
            if schema.field(&field_name).is_some() {
                return Err(Self::err(format!(
                    "two union members map to the Connect union field `{field_name}`"
                )));
            }
            let index = schema.fields.len();
            schema.fields.push(Field {
                name: field_name.clone(),
                index,
                schema: member_schema,
            });
            branches.push(Some((field_name, dec)));
        }
        let schema = Arc::new(schema);
        Ok((schema.clone(), Dec::Union(schema, branches)))
    }

    #[allow(clippy::too_many_arguments)]
    fn typed(
        &mut self,
        t: &str,
        o: &'a Props,
        whole: &'a JsonValue,
        ns: Option<&str>,
        force_optional: bool,
        field_default: Option<&'a JsonValue>,
    ) -> Result<(SchemaRef, Dec), AvroError> {
        let prop_str = |k: &str| o.get(k).and_then(JsonValue::as_str);
        let logical_type = prop_str("logicalType");
        let mut record_name: Option<String> = None;
        let mut schema;
        let dec;
        match t {
            "null" => {
                return Err(Self::err(
                    "a standalone null schema has no Kafka Connect equivalent",
                ))
            }
            "boolean" => {
                schema = Schema::of(SchemaType::Boolean);
                dec = Dec::Boolean;
            }
            "int" => {
                let connect_type = prop_str(CONNECT_TYPE_PROP);
                schema = match (logical_type, connect_type) {
                    (Some(lt), _) if lt.eq_ignore_ascii_case("date") => {
                        (*logical::date_schema()).clone()
                    }
                    (Some(lt), _) if lt.eq_ignore_ascii_case("time-millis") => {
                        (*logical::time_schema()).clone()
                    }
                    (Some(_), _) | (None, None) => Schema::of(SchemaType::Int32),
                    (None, Some("int8")) => Schema::of(SchemaType::Int8),
                    (None, Some("int16")) => Schema::of(SchemaType::Int16),
                    (None, Some(other)) => {
                        return Err(Self::err(format!(
                            "unknown {CONNECT_TYPE_PROP} `{other}` on an Avro int"
                        )))
                    }
                };
                dec = Dec::Int(schema.schema_type);
            }
            "long" => {
                schema = match logical_type {
                    Some(lt) if lt.eq_ignore_ascii_case("timestamp-millis") => {
                        (*logical::timestamp_schema()).clone()
                    }
                    _ => Schema::of(SchemaType::Int64),
                };
                dec = Dec::Long;
            }
            "float" => {
                schema = Schema::of(SchemaType::Float32);
                dec = Dec::Float;
            }
            "double" => {
                schema = Schema::of(SchemaType::Float64);
                dec = Dec::Double;
            }
            "string" => {
                schema = Schema::of(SchemaType::String);
                dec = Dec::String;
            }
            "bytes" | "fixed" => {
                if t == "fixed" {
                    let name =
                        prop_str("name").ok_or_else(|| Self::err("a fixed without a name"))?;
                    let full = full_name(name, prop_str("namespace").or(ns));
                    self.named.insert(full, (whole, ns.map(str::to_owned)));
                    let size = o
                        .get("size")
                        .and_then(JsonValue::as_u64)
                        .and_then(|s| usize::try_from(s).ok())
                        .ok_or_else(|| Self::err(format!("fixed `{name}` without a valid size")))?;
                    dec = Dec::Fixed(size);
                } else {
                    dec = Dec::Bytes;
                }
                schema = if logical_type.is_some_and(|lt| lt.eq_ignore_ascii_case("decimal")) {
                    let scale = o
                        .get("scale")
                        .and_then(JsonValue::as_i64)
                        .and_then(|s| i32::try_from(s).ok())
                        .ok_or_else(|| {
                            Self::err("a decimal needs an integer `scale` (Confluent's rule)")
                        })?;
                    let mut s = (*logical::decimal_schema(scale)).clone();
                    if let Some(p) = o.get("precision") {
                        let p = p.as_i64().ok_or_else(|| {
                            Self::err("a decimal `precision` must be a JSON integer")
                        })?;
                        if p != CONNECT_AVRO_DECIMAL_PRECISION_DEFAULT {
                            s.parameters
                                .insert(CONNECT_AVRO_DECIMAL_PRECISION_PROP.into(), p.to_string());
                        }
                    }
                    s
                } else {
                    Schema::of(SchemaType::Bytes)
                };
            }
            "array" => {
                let items = o
                    .get("items")
                    .ok_or_else(|| Self::err("an array without `items`"))?;
                if let Some((entry, entry_ns)) = self.map_entry(items, ns) {
                    let fields = entry
                        .get("fields")
                        .and_then(JsonValue::as_array)
                        .filter(|f| f.len() == 2)
                        .ok_or_else(|| {
                            Self::err("a map encoded as key/value records needs exactly two fields")
                        })?;
                    let field_type = |name: &str| {
                        fields
                            .iter()
                            .find(|f| f.get("name").and_then(JsonValue::as_str) == Some(name))
                            .and_then(|f| f.get("type"))
                    };
                    let (Some(kt), Some(vt)) = (field_type(KEY_FIELD), field_type(VALUE_FIELD))
                    else {
                        return Err(Self::err(
                            "a map encoded as records needs fields `key` and `value`",
                        ));
                    };
                    let key_first =
                        fields[0].get("name").and_then(JsonValue::as_str) == Some(KEY_FIELD);
                    let (ks, kd) = self.convert(kt, entry_ns.as_deref(), false, None)?;
                    let (vs, vd) = self.convert(vt, entry_ns.as_deref(), false, None)?;
                    schema = Schema::of(SchemaType::Map);
                    schema.key_schema = Some(ks);
                    schema.value_schema = Some(vs);
                    dec = Dec::EntryArray {
                        key: Box::new(kd),
                        value: Box::new(vd),
                        key_first,
                    };
                } else {
                    let (items_schema, items_dec) = self.convert(items, ns, false, None)?;
                    schema = Schema::of(SchemaType::Array);
                    schema.value_schema = Some(items_schema);
                    dec = Dec::Array(Box::new(items_dec));
                }
            }
            "map" => {
                let values = o
                    .get("values")
                    .ok_or_else(|| Self::err("a map without `values`"))?;
                let (values_schema, values_dec) = self.convert(values, ns, false, None)?;
                schema = Schema::of(SchemaType::Map);
                schema.key_schema = Some(Schema::string());
                schema.value_schema = Some(values_schema);
                dec = Dec::Map(Box::new(values_dec));
            }
            "enum" => {
                let name = prop_str("name").ok_or_else(|| Self::err("an enum without a name"))?;
                let full = full_name(name, prop_str("namespace").or(ns));
                self.named
                    .insert(full.clone(), (whole, ns.map(str::to_owned)));
                let symbols: Vec<String> = o
                    .get("symbols")
                    .and_then(JsonValue::as_array)
                    .map(|s| {
                        s.iter()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect()
                    })
                    .ok_or_else(|| Self::err(format!("enum `{full}` without symbols")))?;
                schema = Schema::of(SchemaType::String);
                let short = split_name(&full).1.to_owned();
                if self.meta {
                    if let Some(doc) = prop_str("doc") {
                        schema
                            .parameters
                            .insert(format!("{AVRO_ENUM_DOC_PREFIX_PROP}{short}"), doc.into());
                    }
                    if let Some(d) = prop_str("default") {
                        schema
                            .parameters
                            .insert(format!("{AVRO_ENUM_DEFAULT_PREFIX_PROP}{short}"), d.into());
                    }
                }
                schema
                    .parameters
                    .insert(AVRO_TYPE_ENUM.into(), full.clone());
                for symbol in &symbols {
                    schema
                        .parameters
                        .insert(format!("{AVRO_TYPE_ENUM}.{symbol}"), symbol.clone());
                }
                record_name = Some(full);
                dec = Dec::Enum(symbols.into());
            }
            "record" | "error" => {
                let name = prop_str("name").ok_or_else(|| Self::err("a record without a name"))?;
                let full = full_name(name, prop_str("namespace").or(ns));
                let record_ns = split_name(&full).0.map(str::to_owned);
                self.named
                    .insert(full.clone(), (whole, ns.map(str::to_owned)));
                self.in_progress.insert(full.clone());
                schema = Schema::of(SchemaType::Struct);
                if self.meta {
                    if let Some(doc) = prop_str("doc") {
                        schema
                            .parameters
                            .insert(AVRO_RECORD_DOC_PROP.into(), doc.into());
                    }
                }
                let fields = o
                    .get("fields")
                    .and_then(JsonValue::as_array)
                    .ok_or_else(|| Self::err(format!("record `{full}` without fields")))?;
                let mut decs = Vec::with_capacity(fields.len());
                for f in fields {
                    let fname = f
                        .get("name")
                        .and_then(JsonValue::as_str)
                        .ok_or_else(|| Self::err(format!("a field of `{full}` without a name")))?;
                    let ftype = f.get("type").ok_or_else(|| {
                        Self::err(format!("field `{full}.{fname}` without a type"))
                    })?;
                    if schema.field(fname).is_some() {
                        return Err(Self::err(format!("field `{fname}` twice in `{full}`")));
                    }
                    if self.meta {
                        if let Some(doc) = f.get("doc").and_then(JsonValue::as_str) {
                            schema
                                .parameters
                                .insert(format!("{AVRO_FIELD_DOC_PREFIX_PROP}{fname}"), doc.into());
                        }
                    }
                    let (fs, fd) =
                        self.convert(ftype, record_ns.as_deref(), false, f.get("default"))?;
                    let index = schema.fields.len();
                    schema.fields.push(Field {
                        name: fname.to_owned(),
                        index,
                        schema: fs,
                    });
                    decs.push(fd);
                }
                self.in_progress.remove(&full);
                record_name = Some(full);
                // The schema reference is filled in once the schema is final.
                dec = Dec::Record(Arc::new(Schema::of(SchemaType::Struct)), decs);
            }
            other => return Err(Self::err(format!("unknown Avro type `{other}`"))),
        }

        // connect.* properties.
        if self.meta {
            if let Some(doc) = prop_str(CONNECT_DOC_PROP) {
                schema.doc = Some(doc.to_owned());
            }
        }
        if let Some(v) = o.get(CONNECT_VERSION_PROP) {
            let v = v
                .as_i64()
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(|| Self::err(format!("invalid {CONNECT_VERSION_PROP}: {v}")))?;
            match schema.version {
                Some(existing) if existing != v => {
                    return Err(Self::err(format!(
                        "mismatched versions: {existing} from the logical type, {v} in the schema"
                    )))
                }
                _ => schema.version = Some(v),
            }
        }
        if self.meta {
            if let Some(params) = o.get(CONNECT_PARAMETERS_PROP) {
                let params = params.as_object().ok_or_else(|| {
                    Self::err(format!("{CONNECT_PARAMETERS_PROP} must be a JSON object"))
                })?;
                for (k, v) in params {
                    let v = v.as_str().ok_or_else(|| {
                        Self::err(format!("{CONNECT_PARAMETERS_PROP} `{k}` must be a string"))
                    })?;
                    schema.parameters.insert(k.clone(), v.to_owned());
                }
            }
        }
        for (k, v) in o {
            if k.starts_with(AVRO_PROP_PREFIX) {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                schema.parameters.insert(k.clone(), text);
            }
        }
        let connect_default = o.get(CONNECT_DEFAULT_VALUE_PROP);
        let default_json = match field_default.filter(|d| !d.is_null()) {
            Some(d) => {
                if connect_default.is_none() {
                    schema
                        .parameters
                        .insert(AVRO_FIELD_DEFAULT_FLAG_PROP.into(), "true".into());
                }
                Some(d)
            }
            None => connect_default.filter(|d| !d.is_null()),
        };
        let name = match prop_str(CONNECT_NAME_PROP) {
            Some(n) => Some(n.to_owned()),
            None if o.contains_key(CONNECT_NAME_PROP) => {
                return Err(Self::err(format!("{CONNECT_NAME_PROP} must be a string")))
            }
            None => record_name,
        };
        if let Some(name) = name.filter(|n| n != DEFAULT_SCHEMA_FULL_NAME) {
            match &schema.name {
                Some(existing) if *existing != name => {
                    return Err(Self::err(format!(
                        "mismatched names: `{existing}` from the Avro type, `{name}` in {CONNECT_NAME_PROP}"
                    )))
                }
                _ => schema.name = Some(name),
            }
        }
        if force_optional {
            schema.optional = true;
        }
        if let Some(d) = default_json {
            let value = default_from_json(&schema, d)?;
            schema.default = Some(value);
        }
        let schema = Arc::new(schema);
        let dec = match dec {
            Dec::Record(_, decs) => Dec::Record(schema.clone(), decs),
            other => other,
        };
        Ok((schema, dec))
    }

    /// The record definition (and the namespace its fields resolve in) if
    /// `items` is Confluent's `MapEntry` record (by name or by
    /// `connect.internal.type`).
    fn map_entry(
        &mut self,
        items: &'a JsonValue,
        ns: Option<&str>,
    ) -> Option<(&'a Props, Option<String>)> {
        let (o, full) = match items {
            JsonValue::Object(o) => {
                let name = o.get("name")?.as_str()?;
                let namespace = o.get("namespace").and_then(JsonValue::as_str);
                (o, full_name(name, namespace.or(ns)))
            }
            JsonValue::String(name) => {
                let full = full_name(name, ns);
                let (d, _) = self.named.get(&full)?;
                (d.as_object()?, full)
            }
            _ => return None,
        };
        if o.get("type").and_then(JsonValue::as_str) != Some("record") {
            return None;
        }
        let tagged = o
            .get(CONNECT_INTERNAL_TYPE_NAME)
            .and_then(JsonValue::as_str)
            == Some(MAP_ENTRY_TYPE_NAME);
        let (space, short) = split_name(&full);
        if !(tagged || (space == Some(NAMESPACE) && short == MAP_ENTRY_TYPE_NAME)) {
            return None;
        }
        let space = space.map(str::to_owned);
        self.named
            .entry(full)
            .or_insert((items, ns.map(str::to_owned)));
        Some((o, space))
    }
}

/// The Avro type name of a union member (`int`, `string`, `array`, …).
fn avro_type_name(j: &JsonValue) -> &str {
    match j {
        JsonValue::String(s) => s,
        JsonValue::Object(o) => o.get("type").map_or("unknown", avro_type_name),
        JsonValue::Array(_) => "union",
        _ => "unknown",
    }
}

/// A JSON default as a Connect value of `schema` (Confluent's
/// `defaultValueFromAvro`); logical types keep their Connect encodings.
fn default_from_json(schema: &Schema, j: &JsonValue) -> Result<Value, AvroError> {
    let bad = || {
        AvroError::ToConnect(format!(
            "default value {j} does not fit {}",
            describe(schema)
        ))
    };
    if j.is_null() {
        return Ok(Value::Null);
    }
    let int = || j.as_i64().ok_or_else(bad);
    Ok(match schema.schema_type {
        SchemaType::Int8 => Value::Int8(i8::try_from(int()?).map_err(|_| bad())?),
        SchemaType::Int16 => Value::Int16(i16::try_from(int()?).map_err(|_| bad())?),
        SchemaType::Int32 => Value::Int32(i32::try_from(int()?).map_err(|_| bad())?),
        SchemaType::Int64 => Value::Int64(int()?),
        // Narrowing to f32 is what a FLOAT32 default means.
        SchemaType::Float32 => Value::Float32(j.as_f64().ok_or_else(bad)? as f32),
        SchemaType::Float64 => Value::Float64(j.as_f64().ok_or_else(bad)?),
        SchemaType::Boolean => Value::Boolean(j.as_bool().ok_or_else(bad)?),
        SchemaType::String => Value::String(j.as_str().ok_or_else(bad)?.to_owned()),
        SchemaType::Bytes => {
            let text = j.as_str().ok_or_else(bad)?;
            let bytes: Option<Vec<u8>> = text.chars().map(|c| u8::try_from(c).ok()).collect();
            Value::Bytes(bytes.ok_or_else(bad)?)
        }
        SchemaType::Array => {
            let items = schema.value_schema.as_deref().ok_or_else(bad)?;
            let list = j.as_array().ok_or_else(bad)?;
            Value::Array(
                list.iter()
                    .map(|i| default_from_json(items, i))
                    .collect::<Result<_, _>>()?,
            )
        }
        SchemaType::Map => {
            let (Some(ks), Some(vs)) =
                (schema.key_schema.as_deref(), schema.value_schema.as_deref())
            else {
                return Err(bad());
            };
            match j {
                JsonValue::Object(o) => o
                    .iter()
                    .map(|(k, v)| Ok((Value::String(k.clone()), default_from_json(vs, v)?)))
                    .collect::<Result<Vec<_>, AvroError>>()
                    .map(Value::Map)?,
                JsonValue::Array(entries) => {
                    let mut out = Vec::with_capacity(entries.len());
                    for e in entries {
                        let (k, v) = match e {
                            JsonValue::Object(o) => (o.get(KEY_FIELD), o.get(VALUE_FIELD)),
                            // Confluent writes `[key, value]` pairs.
                            JsonValue::Array(pair) if pair.len() == 2 => {
                                (pair.first(), pair.get(1))
                            }
                            _ => return Err(bad()),
                        };
                        let null = JsonValue::Null;
                        out.push((
                            default_from_json(ks, k.unwrap_or(&null))?,
                            default_from_json(vs, v.unwrap_or(&null))?,
                        ));
                    }
                    Value::Map(out)
                }
                _ => return Err(bad()),
            }
        }
        SchemaType::Struct => {
            if is_union_struct(schema) {
                return Ok(Value::Null);
            }
            let o = j.as_object().ok_or_else(bad)?;
            let mut plain = schema.clone();
            plain.default = None;
            let mut s = Struct::new(Arc::new(plain));
            for field in &schema.fields {
                let v = match o.get(&field.name) {
                    Some(fj) => default_from_json(&field.schema, fj)?,
                    None => Value::Null,
                };
                s.put(&field.name, v)?;
            }
            Value::Struct(s)
        }
    })
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
