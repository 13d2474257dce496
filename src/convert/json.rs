//! [`JsonConverter`]: Kafka's `org.apache.kafka.connect.json.JsonConverter`,
//! byte for byte.
//!
//! # Output
//!
//! With `schemas.enable=true` (the default) every key or value is an
//! envelope `{"schema":…,"payload":…}`; with `false` it is the payload
//! alone. A `null` value without a schema is Kafka's `null` (no bytes).
//!
//! | Connect                          | payload JSON                                             |
//! |----------------------------------|----------------------------------------------------------|
//! | INT8 … INT64                     | `42`                                                     |
//! | FLOAT32 / FLOAT64                | Java's `Float.toString` / `Double.toString`: `1.0`, `1.0E7`, `1.0E-4`; `"NaN"`, `"Infinity"`, `"-Infinity"` quoted |
//! | BOOLEAN                          | `true`                                                   |
//! | STRING                           | escaped as Jackson does (`\u001F`, upper-case hex; `/` and non-ASCII as they are, except characters outside the Basic Multilingual Plane: an escaped UTF-16 surrogate pair, `\uD83D\uDE00`) |
//! | BYTES                            | base64 string (standard alphabet, padded)                |
//! | ARRAY                            | array                                                    |
//! | MAP, STRING keys                 | object                                                   |
//! | MAP, other keys                  | array of `[key,value]` pairs                             |
//! | STRUCT                           | object, fields in schema order                           |
//! | Decimal                          | `decimal.format=BASE64`: base64 of the unscaled bytes; `NUMERIC`: Java's `BigDecimal.toString` (`12.30`, `1E-7`) |
//! | Date / Time / Timestamp          | their INT32 / INT32 / INT64 encodings                    |
//! | `null`                           | the schema's default (if `replace.null.with.default`), else `null` |
//!
//! The schema part is written as Kafka writes it, keys in this order:
//! `type`, then `items` (ARRAY) / `keys`, `values` (MAP) / `fields`
//! (STRUCT), `optional`, `name`, `version`, `doc`, `parameters`,
//! `default`, and for a struct field `field` last:
//! `{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"}],"optional":false,"name":"Row"}`.
//! It is rendered once per schema and cached (keyed on the schema's `Arc`,
//! which the cache holds, so an address is never reused while cached).
//!
//! # Input
//!
//! `to_connect` reads what `from_connect` writes (and what Kafka writes):
//! the envelope's schema becomes a [`Schema`] (cached by its text, so equal
//! schemas come back as the same `Arc`), the payload is read with it,
//! logical types included. Without schemas, values are inferred as Kafka
//! does: integers → INT64, other numbers → FLOAT64, objects → MAP of
//! STRING keys, arrays → ARRAY, strings → STRING, booleans → BOOLEAN, and
//! the schema is `None`.
//!
//! # Where we differ from Kafka
//!
//! - Stricter reading: Kafka reads a JSON value of the wrong kind as a
//!   zero or `null` (`"abc"` for an INT32 field gives 0; a fraction is
//!   truncated); we return a [`ConvertError::Data`] naming the field, the
//!   schema type and the JSON kind. Integers out of range are errors too.
//!   Trailing bytes after the JSON value are an error (Jackson ignores
//!   them).
//! - `"NaN"`, `"Infinity"` and `"-Infinity"` read back as those floats
//!   (Kafka reads them as `0.0`), so every value round-trips.
//! - Decimals read from numbers are rescaled to the schema's scale (exact
//!   only; extra non-zero digits are an error) and limited to 128-bit
//!   unscaled values.
//! - A struct value without a schema is written with its own schema
//!   (Kafka fails with "Mismatching schema").
//! - Where Kafka rejects the same input, our error carries Kafka's words
//!   (so a search for them finds the Kafka documentation and threads),
//!   after the path of the field: "Converting byte[] to Kafka Connect data
//!   failed due to serialization error", "JsonConverter with
//!   schemas.enable requires \"schema\" and \"payload\" fields …", "null
//!   value for field that is required and has no default value",
//!   "Mismatching schema", "Schema must contain 'type' field", "Unknown
//!   schema type", "Array schema did not specify the element type", "Map
//!   schema did not specify the key type", "Struct schema's \"fields\"
//!   argument is not an array.", "Schema parameters must have string
//!   values.". A value of the wrong type is "expected INT32, got STRING"
//!   (Kafka names a Java class: "Invalid type for INT32: class
//!   java.lang.String").
//! - The schema cache is cleared when it reaches `schemas.cache.size`
//!   entries rather than evicting the least recently used one.
//! - Doubles and floats follow the JDK 19+ `Double.toString` specification
//!   (the JDK 19+ rules); Kafka on JDK 17 prints a few values with
//!   superfluous digits.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use super::java_fmt::{self, write_i64, write_json_string};
use super::{ConvertError, Converter, HeaderConverter, SchemaAndValue};
use crate::config::{
    ConfigDef, ConfigIssue, ConfigKey, ConfigType, Importance, Properties, Validator,
};
use crate::data::json::write_base64;
use crate::data::logical::{self, LogicalType};
use crate::data::schema_check::{expected_name, Path};
use crate::data::{DataError, Schema, SchemaBuilder, SchemaRef, SchemaType, Struct, Value};

/// `schemas.enable`: whether to wrap each value in a schema envelope.
pub const SCHEMAS_ENABLE_CONFIG: &str = "schemas.enable";
/// `schemas.cache.size`: how many schemas each direction caches.
pub const SCHEMAS_CACHE_SIZE_CONFIG: &str = "schemas.cache.size";
/// `decimal.format`: `BASE64` (default) or `NUMERIC`.
pub const DECIMAL_FORMAT_CONFIG: &str = "decimal.format";
/// `replace.null.with.default`: write a null field as its schema default.
pub const REPLACE_NULL_WITH_DEFAULT_CONFIG: &str = "replace.null.with.default";
/// `converter.type`: `key`, `value` or `header` (set by the framework in
/// Kafka; accepted here so copied configurations load).
pub const CONVERTER_TYPE_CONFIG: &str = "converter.type";

/// The deepest nesting `to_connect` reads (Jackson's default limit).
const MAX_DEPTH: usize = 1000;

/// How [`JsonConverter`] writes Decimal values (`decimal.format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecimalFormat {
    /// Base64 of the unscaled big-endian two's-complement bytes (Kafka's
    /// default).
    Base64,
    /// A JSON number: Java's `BigDecimal.toString` (`12.30`, `1E-7`).
    Numeric,
}

/// The settings the payload writer and reader need.
#[derive(Clone, Copy, Debug)]
struct Settings {
    schemas_enable: bool,
    decimal_format: DecimalFormat,
    replace_null_with_default: bool,
    cache_size: usize,
    /// `key` or `value`: the root of error paths.
    root: &'static str,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            schemas_enable: true,
            decimal_format: DecimalFormat::Base64,
            replace_null_with_default: true,
            cache_size: 1000,
            root: "value",
        }
    }
}

/// Kafka's `JsonConverter`: Connect values to JSON bytes and back, with
/// Kafka's config keys and byte-identical output (see the module doc for
/// the format and the few places we differ).
///
/// ```
/// use timely_connect::config::Properties;
/// use timely_connect::convert::{Converter, JsonConverter};
/// use timely_connect::data::{Schema, SchemaBuilder, Struct, Value};
///
/// let schema = SchemaBuilder::struct_()
///     .name("Row")
///     .field("id", Schema::int64())
///     .field("score", Schema::optional_float64())
///     .build();
/// let row = Struct::new(schema.clone()).with("id", 7i64)?.with("score", 1.0e7)?;
///
/// let mut json = JsonConverter::new();
/// let mut out = Vec::new();
/// json.from_connect("t", Some(&schema), &Value::Struct(row.clone()), &mut out)?;
/// assert_eq!(
///     String::from_utf8(out.clone())?,
///     r#"{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"},{"type":"double","optional":true,"field":"score"}],"optional":false,"name":"Row"},"payload":{"id":7,"score":1.0E7}}"#
/// );
/// // And back.
/// let back = json.to_connect("t", Some(&out))?;
/// assert_eq!(back.value, Value::Struct(row));
///
/// // Without the envelope.
/// let mut plain = JsonConverter::new();
/// let props: Properties = [("schemas.enable".to_string(), "false".to_string())].into();
/// plain.configure(&props, false).map_err(|e| format!("{e:?}"))?;
/// out.clear();
/// plain.from_connect("t", Some(&Schema::float64()), &Value::Float64(0.001), &mut out)?;
/// assert_eq!(out, b"0.001");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct JsonConverter {
    settings: Settings,
    from_cache: SchemaJsonCache,
    to_cache: HashMap<Box<[u8]>, SchemaRef>,
}

impl JsonConverter {
    /// A converter with Kafka's defaults: schemas enabled, BASE64
    /// decimals, nulls replaced by defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// A converter configured with `configs` (keys without prefix), for
    /// values (`is_key == false`) or keys.
    pub fn configured(configs: &Properties, is_key: bool) -> Result<Self, Vec<ConfigIssue>> {
        let mut c = Self::new();
        Converter::configure(&mut c, configs, is_key)?;
        Ok(c)
    }

    /// Whether the envelope with the schema is written and expected.
    pub fn schemas_enabled(&self) -> bool {
        self.settings.schemas_enable
    }

    /// The `decimal.format` in effect.
    pub fn decimal_format(&self) -> DecimalFormat {
        self.settings.decimal_format
    }

    /// Kafka's `JsonConverterConfig` keys.
    pub fn json_config_def() -> ConfigDef {
        ConfigDef::new()
            .define(
                ConfigKey::new(
                    SCHEMAS_ENABLE_CONFIG,
                    ConfigType::Boolean,
                    Importance::High,
                    "Include schemas within each of the serialized values and keys.",
                )
                .default_value("true"),
            )
            .define(
                ConfigKey::new(
                    SCHEMAS_CACHE_SIZE_CONFIG,
                    ConfigType::Int,
                    Importance::High,
                    "The maximum number of schemas that can be cached in this converter instance.",
                )
                .default_value("1000")
                .validator(Validator::at_least(0.0)),
            )
            .define(
                ConfigKey::new(
                    DECIMAL_FORMAT_CONFIG,
                    ConfigType::String,
                    Importance::Low,
                    "Controls which format this converter will serialize decimals in: BASE64 \
                     (default) or NUMERIC, case-insensitive.",
                )
                .default_value("BASE64")
                .validator(Validator::one_of(&["BASE64", "NUMERIC"])),
            )
            .define(
                ConfigKey::new(
                    REPLACE_NULL_WITH_DEFAULT_CONFIG,
                    ConfigType::Boolean,
                    Importance::Low,
                    "Whether to replace fields that have a default value and that are null with \
                     the default value. When true the default is used, otherwise null.",
                )
                .default_value("true"),
            )
            .define(converter_type_key())
    }

    fn apply(&mut self, configs: &Properties, root: &'static str) -> Result<(), Vec<ConfigIssue>> {
        let parsed = Self::json_config_def().parse(configs)?;
        let decimal = parsed.string(DECIMAL_FORMAT_CONFIG).unwrap_or("BASE64");
        self.settings = Settings {
            schemas_enable: parsed.boolean(SCHEMAS_ENABLE_CONFIG).unwrap_or(true),
            decimal_format: if decimal.eq_ignore_ascii_case("NUMERIC") {
                DecimalFormat::Numeric
            } else {
                DecimalFormat::Base64
            },
            replace_null_with_default: parsed
                .boolean(REPLACE_NULL_WITH_DEFAULT_CONFIG)
                .unwrap_or(true),
            cache_size: parsed
                .int(SCHEMAS_CACHE_SIZE_CONFIG)
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(1000),
            root: match parsed.string(CONVERTER_TYPE_CONFIG) {
                Some(t) if t.eq_ignore_ascii_case("key") => "key",
                Some(t) if t.eq_ignore_ascii_case("header") => "header",
                _ => root,
            },
        };
        self.from_cache = SchemaJsonCache::default();
        self.to_cache.clear();
        Ok(())
    }

    fn write(
        &mut self,
        schema: Option<&Schema>,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<bool, ConvertError> {
        if schema.is_none() && value.is_null() {
            return Ok(false);
        }
        let start = out.len();
        let s = self.settings;
        let root = Path::Root(s.root);
        let res = if s.schemas_enable {
            out.extend_from_slice(b"{\"schema\":");
            match schema {
                None => {
                    out.extend_from_slice(b"null");
                    Ok(())
                }
                Some(schema) => {
                    // The value's own `Arc`, when it is this schema, keys the cache.
                    let arc = match value {
                        Value::Struct(st) if std::ptr::eq(&**st.schema(), schema) => {
                            Some(st.schema())
                        }
                        _ => None,
                    };
                    self.from_cache.write_top(&s, out, schema, arc)
                }
            }
            .and_then(|()| {
                out.extend_from_slice(b",\"payload\":");
                write_value(&s, out, schema, value, &root)
            })
            .map(|()| out.push(b'}'))
        } else {
            write_value(&s, out, schema, value, &root)
        };
        if res.is_err() {
            out.truncate(start);
        }
        res.map(|()| true)
    }

    fn read(&mut self, bytes: Option<&[u8]>) -> Result<SchemaAndValue, ConvertError> {
        let Some(bytes) = bytes else {
            return Ok(SchemaAndValue {
                schema: None,
                value: Value::Null,
            });
        };
        let s = self.settings;
        let text = std::str::from_utf8(bytes)
            .map_err(|e| serialization(format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
        let mut p = Parser::new(text);
        p.skip_ws();
        if !s.schemas_enable {
            if p.at_end() {
                // Jackson reads no content as a missing node: null.
                return Ok(SchemaAndValue {
                    schema: None,
                    value: Value::Null,
                });
            }
            let node = p.parse_value(0)?;
            p.finish()?;
            let value = to_value(&s, None, Some(&node), &Path::Root(s.root))?;
            return Ok(SchemaAndValue {
                schema: None,
                value,
            });
        }
        let (schema_span, payload) = p.parse_envelope()?;
        let schema_text = &text.as_bytes()[schema_span.0..schema_span.1];
        let schema = if schema_text == b"null" {
            None
        } else if let Some(cached) = self.to_cache.get(schema_text) {
            Some(cached.clone())
        } else {
            let mut sp = Parser::new(&text[schema_span.0..schema_span.1]);
            let node = sp.parse_value(0)?;
            let schema = to_schema(&s, &node, &Path::Root("schema"))?;
            if s.cache_size > 0 {
                if self.to_cache.len() >= s.cache_size {
                    self.to_cache.clear();
                }
                self.to_cache.insert(schema_text.into(), schema.clone());
            }
            Some(schema)
        };
        let value = to_value(&s, schema.as_ref(), payload.as_ref(), &Path::Root(s.root))?;
        Ok(SchemaAndValue { schema, value })
    }
}

fn converter_type_key() -> ConfigKey {
    ConfigKey::new(
        CONVERTER_TYPE_CONFIG,
        ConfigType::String,
        Importance::Low,
        "How this converter will be used: key, value or header. Set by the framework; \
         only the root name in error messages depends on it.",
    )
    .optional()
    .validator(Validator::one_of(&["key", "value", "header"]))
}

impl Converter for JsonConverter {
    fn config_def(&self) -> ConfigDef {
        Self::json_config_def()
    }

    fn configure(&mut self, configs: &Properties, is_key: bool) -> Result<(), Vec<ConfigIssue>> {
        self.apply(configs, if is_key { "key" } else { "value" })
    }

    fn from_connect(
        &mut self,
        _topic: &str,
        schema: Option<&Schema>,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<bool, ConvertError> {
        self.write(schema, value, out)
    }

    fn to_connect(
        &mut self,
        _topic: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConvertError> {
        self.read(bytes)
    }
}

impl HeaderConverter for JsonConverter {
    fn config_def(&self) -> ConfigDef {
        Self::json_config_def()
    }

    fn configure(&mut self, configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
        self.apply(configs, "header")
    }

    fn from_connect_header(
        &mut self,
        _topic: &str,
        _header_key: &str,
        schema: Option<&Schema>,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<bool, ConvertError> {
        self.write(schema, value, out)
    }

    fn to_connect_header(
        &mut self,
        _topic: &str,
        _header_key: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConvertError> {
        self.read(bytes)
    }
}

fn serialization(message: String) -> ConvertError {
    ConvertError::Serialization(format!(
        "Converting byte[] to Kafka Connect data failed due to serialization error: {message}"
    ))
}

fn mismatch(path: &Path<'_>, expected: String, actual: impl Into<String>) -> ConvertError {
    ConvertError::Data(DataError::TypeMismatch {
        field: path.render(),
        expected,
        actual: actual.into(),
    })
}

fn invalid(path: &Path<'_>, message: String) -> ConvertError {
    ConvertError::Data(DataError::Invalid {
        field: path.render(),
        message,
    })
}

// ------------------------------------------------------------- writing

/// Serialized schema JSON per schema, keyed on the address of an `Arc`
/// the cache holds (so the address cannot be reused while cached).
#[derive(Debug, Default)]
struct SchemaJsonCache {
    map: HashMap<usize, (SchemaRef, Arc<[u8]>)>,
    last: Option<(SchemaRef, Arc<[u8]>)>,
}

fn addr(schema: &Schema) -> usize {
    std::ptr::from_ref(schema) as usize
}

impl SchemaJsonCache {
    /// Writes the top-level schema: from the cache when it holds this
    /// very schema, rendered (and cached, given its `Arc`) otherwise.
    fn write_top(
        &mut self,
        s: &Settings,
        out: &mut Vec<u8>,
        schema: &Schema,
        arc: Option<&SchemaRef>,
    ) -> Result<(), ConvertError> {
        if let Some((last, bytes)) = &self.last {
            if std::ptr::eq(&**last, schema) {
                out.extend_from_slice(bytes);
                return Ok(());
            }
        }
        if let Some(entry) = self.map.get(&addr(schema)) {
            out.extend_from_slice(&entry.1);
            self.last = Some(entry.clone());
            return Ok(());
        }
        match arc {
            Some(arc) if s.cache_size > 0 => {
                let bytes = self.render_cached(s, arc)?;
                out.extend_from_slice(&bytes);
                Ok(())
            }
            _ => self.write_schema(s, out, schema),
        }
    }

    /// The JSON of `schema`, from the cache or rendered into it.
    fn render_cached(
        &mut self,
        s: &Settings,
        schema: &SchemaRef,
    ) -> Result<Arc<[u8]>, ConvertError> {
        if let Some(entry) = self.map.get(&addr(schema)) {
            return Ok(entry.1.clone());
        }
        let mut buf = Vec::with_capacity(64);
        self.write_schema(s, &mut buf, schema)?;
        let bytes: Arc<[u8]> = buf.into();
        if self.map.len() >= s.cache_size {
            self.map.clear();
        }
        let entry = (schema.clone(), bytes.clone());
        self.map.insert(addr(schema), entry.clone());
        self.last = Some(entry);
        Ok(bytes)
    }

    fn write_child(
        &mut self,
        s: &Settings,
        out: &mut Vec<u8>,
        schema: &SchemaRef,
    ) -> Result<(), ConvertError> {
        if s.cache_size > 0 {
            let bytes = self.render_cached(s, schema)?;
            out.extend_from_slice(&bytes);
            Ok(())
        } else {
            self.write_schema(s, out, schema)
        }
    }

    /// Kafka's `asJsonSchema`, written straight to bytes.
    fn write_schema(
        &mut self,
        s: &Settings,
        out: &mut Vec<u8>,
        schema: &Schema,
    ) -> Result<(), ConvertError> {
        let missing = |what: &str| {
            ConvertError::Data(DataError::InvalidSchema {
                schema: schema.to_string(),
                message: format!("no {what} schema"),
            })
        };
        out.extend_from_slice(b"{\"type\":\"");
        out.extend_from_slice(json_type_name(schema.schema_type).as_bytes());
        out.push(b'"');
        match schema.schema_type {
            SchemaType::Array => {
                out.extend_from_slice(b",\"items\":");
                let items = schema
                    .value_schema
                    .as_ref()
                    .ok_or_else(|| missing("element"))?;
                self.write_child(s, out, items)?;
            }
            SchemaType::Map => {
                out.extend_from_slice(b",\"keys\":");
                let keys = schema.key_schema.as_ref().ok_or_else(|| missing("key"))?;
                self.write_child(s, out, keys)?;
                out.extend_from_slice(b",\"values\":");
                let values = schema
                    .value_schema
                    .as_ref()
                    .ok_or_else(|| missing("value"))?;
                self.write_child(s, out, values)?;
            }
            SchemaType::Struct => {
                out.extend_from_slice(b",\"fields\":[");
                for (i, field) in schema.fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.write_child(s, out, &field.schema)?;
                    // Reopen the field's schema object to add its name last.
                    out.pop();
                    out.extend_from_slice(b",\"field\":");
                    write_json_string(out, &field.name);
                    out.push(b'}');
                }
                out.push(b']');
            }
            _ => {}
        }
        out.extend_from_slice(if schema.optional {
            b",\"optional\":true"
        } else {
            b",\"optional\":false"
        });
        if let Some(name) = &schema.name {
            out.extend_from_slice(b",\"name\":");
            write_json_string(out, name);
        }
        if let Some(version) = schema.version {
            out.extend_from_slice(b",\"version\":");
            write_i64(out, i64::from(version));
        }
        if let Some(doc) = &schema.doc {
            out.extend_from_slice(b",\"doc\":");
            write_json_string(out, doc);
        }
        if !schema.parameters.is_empty() {
            out.extend_from_slice(b",\"parameters\":{");
            for (i, (k, v)) in schema.parameters.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_string(out, k);
                out.push(b':');
                write_json_string(out, v);
            }
            out.push(b'}');
        }
        if let Some(default) = &schema.default {
            out.extend_from_slice(b",\"default\":");
            write_value(s, out, Some(schema), default, &Path::Root("default"))?;
        }
        out.push(b'}');
        Ok(())
    }
}

/// The JSON schema's name for a type (`int32`, `float`, `double`, …).
fn json_type_name(t: SchemaType) -> &'static str {
    match t {
        SchemaType::Int8 => "int8",
        SchemaType::Int16 => "int16",
        SchemaType::Int32 => "int32",
        SchemaType::Int64 => "int64",
        SchemaType::Float32 => "float",
        SchemaType::Float64 => "double",
        SchemaType::Boolean => "boolean",
        SchemaType::String => "string",
        SchemaType::Bytes => "bytes",
        SchemaType::Array => "array",
        SchemaType::Map => "map",
        SchemaType::Struct => "struct",
    }
}

fn schema_type_from_json(name: &str) -> Option<SchemaType> {
    Some(match name {
        "int8" => SchemaType::Int8,
        "int16" => SchemaType::Int16,
        "int32" => SchemaType::Int32,
        "int64" => SchemaType::Int64,
        "float" => SchemaType::Float32,
        "double" => SchemaType::Float64,
        "boolean" => SchemaType::Boolean,
        "string" => SchemaType::String,
        "bytes" => SchemaType::Bytes,
        "array" => SchemaType::Array,
        "map" => SchemaType::Map,
        "struct" => SchemaType::Struct,
        _ => return None,
    })
}

fn write_float_json<F: Copy>(out: &mut Vec<u8>, v: F, finite: bool, write: fn(&mut Vec<u8>, F)) {
    // Jackson quotes non-finite numbers by default (QUOTE_NON_NUMERIC_NUMBERS).
    if finite {
        write(out, v);
    } else {
        out.push(b'"');
        write(out, v);
        out.push(b'"');
    }
}

fn write_bytes_json(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b'"');
    write_base64(out, b);
    out.push(b'"');
}

/// Kafka's `convertToJson`, written straight to bytes.
fn write_value(
    s: &Settings,
    out: &mut Vec<u8>,
    schema: Option<&Schema>,
    value: &Value,
    path: &Path<'_>,
) -> Result<(), ConvertError> {
    let Some(schema) = schema else {
        return write_schemaless(s, out, value, path);
    };
    if value.is_null() {
        if let (Some(default), true) = (&schema.default, s.replace_null_with_default) {
            if !default.is_null() {
                return write_value(s, out, Some(schema), default, path);
            }
        }
        if schema.optional {
            out.extend_from_slice(b"null");
            return Ok(());
        }
        return Err(ConvertError::Data(DataError::NullForRequired {
            field: path.render(),
            expected: expected_name(schema),
        }));
    }
    if value.schema_type() != Some(schema.schema_type) {
        return Err(mismatch(path, expected_name(schema), value.type_name()));
    }
    match value {
        Value::Int8(v) => write_i64(out, i64::from(*v)),
        Value::Int16(v) => write_i64(out, i64::from(*v)),
        Value::Int32(v) => write_i64(out, i64::from(*v)),
        Value::Int64(v) => write_i64(out, *v),
        Value::Float32(v) => write_float_json(out, *v, v.is_finite(), java_fmt::write_float),
        Value::Float64(v) => write_float_json(out, *v, v.is_finite(), java_fmt::write_double),
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::String(v) => write_json_string(out, v),
        Value::Bytes(b) => {
            if s.decimal_format == DecimalFormat::Numeric
                && LogicalType::of(schema) == Some(LogicalType::Decimal)
            {
                let scale = logical::decimal_scale(schema)?;
                if b.is_empty() {
                    return Err(invalid(path, "Decimal value has no bytes".to_owned()));
                }
                java_fmt::write_big_decimal(out, b, scale);
            } else {
                write_bytes_json(out, b);
            }
        }
        Value::Array(items) => {
            let item_schema = schema.value_schema.as_deref();
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(s, out, item_schema, item, &Path::Index(path, i))?;
            }
            out.push(b']');
        }
        Value::Map(entries) => {
            let ks = schema.key_schema.as_deref();
            let vs = schema.value_schema.as_deref();
            let object = ks.is_some_and(|k| k.schema_type == SchemaType::String);
            write_map(s, out, entries, ks, vs, object, path)?;
        }
        Value::Struct(st) => {
            if !std::ptr::eq(&**st.schema(), schema) && **st.schema() != *schema {
                return Err(invalid(
                    path,
                    format!(
                        "Mismatching schema: the struct's schema is {}, the field's is {schema}",
                        st.schema()
                    ),
                ));
            }
            write_struct(s, out, st, path)?;
        }
        Value::Null => out.extend_from_slice(b"null"),
    }
    Ok(())
}

fn write_struct(
    s: &Settings,
    out: &mut Vec<u8>,
    st: &Struct,
    path: &Path<'_>,
) -> Result<(), ConvertError> {
    out.push(b'{');
    for (i, (field, v)) in st.schema().fields.iter().zip(st.values()).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_string(out, &field.name);
        out.push(b':');
        write_value(
            s,
            out,
            Some(&field.schema),
            v,
            &Path::Field(path, &field.name),
        )?;
    }
    out.push(b'}');
    Ok(())
}

fn write_map(
    s: &Settings,
    out: &mut Vec<u8>,
    entries: &[(Value, Value)],
    ks: Option<&Schema>,
    vs: Option<&Schema>,
    object: bool,
    path: &Path<'_>,
) -> Result<(), ConvertError> {
    out.push(if object { b'{' } else { b'[' });
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if object {
            match k {
                Value::String(k) => write_json_string(out, k),
                other => {
                    // Kafka writes the key's JSON text as the name; only a
                    // null under an optional key schema gets here legally.
                    let mut key = Vec::new();
                    write_value(s, &mut key, ks, other, &Path::MapKey(path))?;
                    let text = String::from_utf8_lossy(&key);
                    write_json_string(out, text.trim_matches('"'));
                }
            }
            out.push(b':');
            write_value(s, out, vs, v, &Path::MapValue(path, k))?;
        } else {
            out.push(b'[');
            write_value(s, out, ks, k, &Path::MapKey(path))?;
            out.push(b',');
            write_value(s, out, vs, v, &Path::MapValue(path, k))?;
            out.push(b']');
        }
    }
    out.push(if object { b'}' } else { b']' });
    Ok(())
}

/// A value without a schema: its type decides (Kafka's
/// `ConnectSchema.schemaType(value.getClass())`).
fn write_schemaless(
    s: &Settings,
    out: &mut Vec<u8>,
    value: &Value,
    path: &Path<'_>,
) -> Result<(), ConvertError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Int8(v) => write_i64(out, i64::from(*v)),
        Value::Int16(v) => write_i64(out, i64::from(*v)),
        Value::Int32(v) => write_i64(out, i64::from(*v)),
        Value::Int64(v) => write_i64(out, *v),
        Value::Float32(v) => write_float_json(out, *v, v.is_finite(), java_fmt::write_float),
        Value::Float64(v) => write_float_json(out, *v, v.is_finite(), java_fmt::write_double),
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::String(v) => write_json_string(out, v),
        Value::Bytes(b) => write_bytes_json(out, b),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_schemaless(s, out, item, &Path::Index(path, i))?;
            }
            out.push(b']');
        }
        Value::Map(entries) => {
            let object = entries.iter().all(|(k, _)| matches!(k, Value::String(_)));
            write_map(s, out, entries, None, None, object, path)?;
        }
        Value::Struct(st) => write_struct(s, out, st, path)?,
    }
    Ok(())
}

// ------------------------------------------------------------- reading

/// A parsed JSON value; numbers keep their text so nothing is rounded
/// before the schema says what they are.
#[derive(Debug)]
enum Node<'a> {
    Null,
    Bool(bool),
    Num(&'a str),
    Str(Cow<'a, str>),
    Arr(Vec<Node<'a>>),
    Obj(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl Node<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Node::Null => "JSON null",
            Node::Bool(_) => "JSON boolean",
            Node::Num(_) => "JSON number",
            Node::Str(_) => "JSON string",
            Node::Arr(_) => "JSON array",
            Node::Obj(_) => "JSON object",
        }
    }

    /// The member `name` (the last one, as Jackson keeps the last).
    fn get(&self, name: &str) -> Option<&Self> {
        match self {
            Node::Obj(members) => members
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// A strict RFC 8259 parser over text already checked to be UTF-8.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser { text, pos: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn err(&self, what: &str) -> ConvertError {
        serialization(format!("{what} at byte {}", self.pos))
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), ConvertError> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected '{}'", char::from(c))))
        }
    }

    fn finish(&mut self) -> Result<(), ConvertError> {
        self.skip_ws();
        if self.at_end() {
            Ok(())
        } else {
            Err(self.err("unexpected content after the JSON value"))
        }
    }

    fn literal(&mut self, word: &str) -> Result<(), ConvertError> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.err("unrecognized token"))
        }
    }

    /// The envelope `{"schema":…,"payload":…}`: the schema's text span
    /// (read by the caller, which caches by it) and the payload.
    fn parse_envelope(&mut self) -> Result<((usize, usize), Option<Node<'a>>), ConvertError> {
        let wrong = || {
            ConvertError::Serialization(
                "JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields and \
                 may not contain additional fields. If you are trying to deserialize plain JSON \
                 data, set schemas.enable=false in your converter configuration."
                    .to_owned(),
            )
        };
        self.skip_ws();
        if self.peek() != Some(b'{') {
            // Still check the bytes are JSON, so malformed input says so.
            self.parse_value(0)?;
            self.finish()?;
            return Err(wrong());
        }
        self.pos += 1;
        let mut schema = None;
        let mut payload = None;
        let mut members = 0;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                let key = self.parse_string()?;
                self.expect(b':')?;
                self.skip_ws();
                let start = self.pos;
                members += 1;
                match &*key {
                    "schema" => {
                        self.skip_value(1)?;
                        schema = Some((start, self.pos));
                    }
                    "payload" => payload = Some(self.parse_value(1)?),
                    _ => self.skip_value(1)?,
                }
                self.skip_ws();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.err("expected ',' or '}'")),
                }
            }
        }
        self.finish()?;
        match (schema, payload) {
            (Some(span), Some(payload)) if members == 2 => Ok((span, Some(payload))),
            _ => Err(wrong()),
        }
    }

    fn parse_value(&mut self, depth: usize) -> Result<Node<'a>, ConvertError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        self.skip_ws();
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                let mut members = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(Node::Obj(members));
                }
                loop {
                    self.skip_ws();
                    let key = self.parse_string()?;
                    self.expect(b':')?;
                    let value = self.parse_value(depth + 1)?;
                    members.push((key, value));
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(Node::Obj(members));
                        }
                        _ => return Err(self.err("expected ',' or '}'")),
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(Node::Arr(items));
                }
                loop {
                    items.push(self.parse_value(depth + 1)?);
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Node::Arr(items));
                        }
                        _ => return Err(self.err("expected ',' or ']'")),
                    }
                }
            }
            Some(b'"') => Ok(Node::Str(self.parse_string()?)),
            Some(b't') => self.literal("true").map(|()| Node::Bool(true)),
            Some(b'f') => self.literal("false").map(|()| Node::Bool(false)),
            Some(b'n') => self.literal("null").map(|()| Node::Null),
            Some(b'-' | b'0'..=b'9') => self.parse_number().map(Node::Num),
            None => Err(self.err("unexpected end of input")),
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    /// Checks one value without building it.
    fn skip_value(&mut self, depth: usize) -> Result<(), ConvertError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        self.skip_ws();
        let (open, close) = match self.peek() {
            Some(b'{') => (b'{', b'}'),
            Some(b'[') => (b'[', b']'),
            Some(b'"') => return self.parse_string().map(drop),
            Some(b't') => return self.literal("true"),
            Some(b'f') => return self.literal("false"),
            Some(b'n') => return self.literal("null"),
            Some(b'-' | b'0'..=b'9') => return self.parse_number().map(drop),
            None => return Err(self.err("unexpected end of input")),
            Some(_) => return Err(self.err("unexpected character")),
        };
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(());
        }
        loop {
            if open == b'{' {
                self.skip_ws();
                self.parse_string()?;
                self.expect(b':')?;
            }
            self.skip_value(depth + 1)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or a closing bracket")),
            }
        }
    }

    fn parse_number(&mut self) -> Result<&'a str, ConvertError> {
        let b = self.bytes();
        let start = self.pos;
        let mut i = start;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        let digits = |i: &mut usize| {
            let from = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i - from
        };
        let int_start = i;
        let n = digits(&mut i);
        if n == 0 || (n > 1 && b[int_start] == b'0') {
            self.pos = i;
            return Err(self.err("invalid number"));
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if digits(&mut i) == 0 {
                self.pos = i;
                return Err(self.err("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            if digits(&mut i) == 0 {
                self.pos = i;
                return Err(self.err("invalid number"));
            }
        }
        self.pos = i;
        Ok(&self.text[start..i])
    }

    fn parse_string(&mut self) -> Result<Cow<'a, str>, ConvertError> {
        if self.peek() != Some(b'"') {
            return Err(self.err("expected a string"));
        }
        self.pos += 1;
        let b = self.bytes();
        let start = self.pos;
        // Fast path: no escapes.
        let mut i = start;
        while let Some(&c) = b.get(i) {
            match c {
                b'"' => {
                    self.pos = i + 1;
                    return Ok(Cow::Borrowed(&self.text[start..i]));
                }
                b'\\' => break,
                0..=0x1f => {
                    self.pos = i;
                    return Err(self.err("unescaped control character in string"));
                }
                _ => i += 1,
            }
        }
        let mut s = String::from(&self.text[start..i]);
        self.pos = i;
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err("unterminated string"));
            };
            match c {
                b'"' => {
                    self.pos += 1;
                    return Ok(Cow::Owned(s));
                }
                b'\\' => {
                    self.pos += 1;
                    let e = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                    self.pos += 1;
                    match e {
                        b'"' => s.push('"'),
                        b'\\' => s.push('\\'),
                        b'/' => s.push('/'),
                        b'b' => s.push('\u{8}'),
                        b'f' => s.push('\u{c}'),
                        b'n' => s.push('\n'),
                        b'r' => s.push('\r'),
                        b't' => s.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let c = if (0xd800..0xdc00).contains(&hi) {
                                if !self.text[self.pos..].starts_with("\\u") {
                                    return Err(self.err("unpaired surrogate"));
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return Err(self.err("unpaired surrogate"));
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            s.push(
                                char::from_u32(c).ok_or_else(|| self.err("unpaired surrogate"))?,
                            );
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                0..=0x1f => return Err(self.err("unescaped control character in string")),
                _ => {
                    // Copy up to the next special byte (UTF-8 sequences stay whole).
                    let rest = &self.bytes()[self.pos..];
                    let n = rest
                        .iter()
                        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                        .unwrap_or(rest.len());
                    s.push_str(&self.text[self.pos..self.pos + n]);
                    self.pos += n;
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, ConvertError> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.err("invalid \\u escape"))?;
        let v = u32::from_str_radix(digits, 16).map_err(|_| self.err("invalid \\u escape"))?;
        self.pos += 4;
        Ok(v)
    }
}

/// Decodes standard base64; padding optional, whitespace not allowed.
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine;
    const LENIENT_PADDING: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT_PADDING.decode(text).ok()
}

/// Kafka's `asConnectSchema`.
fn to_schema(s: &Settings, node: &Node<'_>, path: &Path<'_>) -> Result<SchemaRef, ConvertError> {
    let bad = |message: String| {
        ConvertError::Data(DataError::InvalidSchema {
            schema: path.render(),
            message,
        })
    };
    if !matches!(node, Node::Obj(_)) {
        return Err(bad(format!(
            "a schema must be a JSON object, got {}",
            node.kind()
        )));
    }
    let type_name = node
        .get("type")
        .and_then(Node::as_str)
        .ok_or_else(|| bad("Schema must contain 'type' field".to_owned()))?;
    let schema_type = schema_type_from_json(type_name)
        .ok_or_else(|| bad(format!("Unknown schema type: {type_name}")))?;
    let mut b = match schema_type {
        SchemaType::Array => {
            let items = node
                .get("items")
                .filter(|n| !matches!(n, Node::Null))
                .ok_or_else(|| bad("Array schema did not specify the element type".to_owned()))?;
            SchemaBuilder::array(to_schema(s, items, &Path::Field(path, "items"))?)
        }
        SchemaType::Map => {
            let keys = node
                .get("keys")
                .ok_or_else(|| bad("Map schema did not specify the key type".to_owned()))?;
            let values = node
                .get("values")
                .ok_or_else(|| bad("Map schema did not specify the value type".to_owned()))?;
            SchemaBuilder::map(
                to_schema(s, keys, &Path::Field(path, "keys"))?,
                to_schema(s, values, &Path::Field(path, "values"))?,
            )
        }
        SchemaType::Struct => {
            let Some(Node::Arr(fields)) = node.get("fields") else {
                return Err(bad(
                    "Struct schema's \"fields\" argument is not an array.".to_owned()
                ));
            };
            let mut b = SchemaBuilder::struct_();
            for field in fields {
                let name = field.get("field").and_then(Node::as_str).ok_or_else(|| {
                    bad("Struct schema's field name not specified properly".to_owned())
                })?;
                b = b.field(name, to_schema(s, field, &Path::Field(path, name))?);
            }
            b
        }
        t => SchemaBuilder::new(t),
    };
    if let Some(Node::Bool(true)) = node.get("optional") {
        b = b.optional();
    }
    if let Some(name) = node.get("name").and_then(Node::as_str) {
        b = b.name(name);
    }
    if let Some(Node::Num(v)) = node.get("version") {
        if let Ok(v) = v.parse::<i32>() {
            b = b.version(v);
        }
    }
    if let Some(doc) = node.get("doc").and_then(Node::as_str) {
        b = b.doc(doc);
    }
    if let Some(Node::Obj(params)) = node.get("parameters") {
        for (k, v) in params {
            let v = v
                .as_str()
                .ok_or_else(|| bad("Schema parameters must have string values.".to_owned()))?;
            b = b.parameter(k, v);
        }
    }
    if let Some(default) = node.get("default") {
        let without = b.clone().try_build()?;
        let value = to_value(
            s,
            Some(&without),
            Some(default),
            &Path::Field(path, "default"),
        )?;
        b = b.default_value(value);
    }
    Ok(b.try_build()?)
}

fn parse_int<T: std::str::FromStr>(
    schema: &Schema,
    node: &Node<'_>,
    path: &Path<'_>,
) -> Result<T, ConvertError> {
    match node {
        Node::Num(t) if !t.contains(['.', 'e', 'E']) => t.parse::<T>().map_err(|_| {
            invalid(
                path,
                format!("{t} is out of range for {}", expected_name(schema)),
            )
        }),
        other => Err(mismatch(path, expected_name(schema), describe_node(other))),
    }
}

fn describe_node(node: &Node<'_>) -> String {
    match node {
        Node::Num(t) => format!("JSON number {t}"),
        other => other.kind().to_owned(),
    }
}

fn parse_float<T: std::str::FromStr>(
    schema: &Schema,
    node: &Node<'_>,
    path: &Path<'_>,
) -> Result<T, ConvertError> {
    let text = match node {
        Node::Num(t) => *t,
        Node::Str(t) if matches!(&**t, "NaN" | "Infinity" | "-Infinity") => {
            // `str::parse` spells these `NaN`, `inf`, `-inf`.
            match &**t {
                "NaN" => "NaN",
                "Infinity" => "inf",
                _ => "-inf",
            }
        }
        other => return Err(mismatch(path, expected_name(schema), other.kind())),
    };
    text.parse::<T>()
        .map_err(|_| invalid(path, format!("{text} is not a number")))
}

/// A JSON number, read exactly and rescaled to `scale`, as Decimal bytes.
fn decimal_from_text(text: &str, scale: i32, path: &Path<'_>) -> Result<Vec<u8>, ConvertError> {
    let fail = |why: &str| invalid(path, format!("Decimal {text}: {why}"));
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (
            &text[..i],
            text[i + 1..]
                .parse::<i64>()
                .map_err(|_| fail("exponent out of range"))?,
        ),
        None => (text, 0),
    };
    let negative = mantissa.starts_with('-');
    let mantissa = mantissa.trim_start_matches('-');
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    // Scale of the number as written.
    let mut own_scale = i64::try_from(frac.len()).unwrap_or(i64::MAX) - exp;
    let target = i64::from(scale);
    while own_scale > target {
        match digits.last() {
            Some(b'0') => {
                digits.pop();
                own_scale -= 1;
            }
            Some(_) => return Err(fail(&format!("more fraction digits than scale {scale}"))),
            None => break,
        }
    }
    let pad = usize::try_from(target - own_scale).map_err(|_| fail("out of range"))?;
    if pad > 40 {
        return Err(fail("does not fit a 128-bit unscaled value"));
    }
    digits.extend(std::iter::repeat_n(b'0', pad));
    let mut unscaled: i128 = 0;
    for d in digits {
        unscaled = unscaled
            .checked_mul(10)
            .and_then(|v| v.checked_add(i128::from(d - b'0')))
            .ok_or_else(|| fail("does not fit a 128-bit unscaled value"))?;
    }
    if negative {
        unscaled = -unscaled;
    }
    Ok(logical::Decimal::new(unscaled, scale).to_bytes())
}

/// Kafka's `convertToConnect`.
fn to_value(
    s: &Settings,
    schema: Option<&SchemaRef>,
    node: Option<&Node<'_>>,
    path: &Path<'_>,
) -> Result<Value, ConvertError> {
    let Some(schema) = schema else {
        return Ok(match node {
            None => Value::Null,
            Some(n) => schemaless_value(n, path)?,
        });
    };
    let node = match node {
        None | Some(Node::Null) => {
            if let (Some(default), true) = (&schema.default, s.replace_null_with_default) {
                return Ok(default.clone());
            }
            if schema.optional {
                return Ok(Value::Null);
            }
            return Err(ConvertError::Data(DataError::NullForRequired {
                field: path.render(),
                expected: expected_name(schema),
            }));
        }
        Some(n) => n,
    };
    match LogicalType::of(schema) {
        Some(LogicalType::Decimal) => {
            let scale = logical::decimal_scale(schema)?;
            return match node {
                Node::Num(t) => Ok(Value::Bytes(decimal_from_text(t, scale, path)?)),
                Node::Str(t) => match decimal_bytes(t) {
                    Some(b) => Ok(Value::Bytes(b)),
                    None => Err(invalid(path, "Invalid bytes for Decimal field".to_owned())),
                },
                other => Err(mismatch(path, expected_name(schema), other.kind())),
            };
        }
        Some(LogicalType::Date | LogicalType::Time) if schema.schema_type == SchemaType::Int32 => {
            return Ok(Value::Int32(parse_int(schema, node, path)?));
        }
        Some(LogicalType::Timestamp) if schema.schema_type == SchemaType::Int64 => {
            return Ok(Value::Int64(parse_int(schema, node, path)?));
        }
        _ => {}
    }
    Ok(match schema.schema_type {
        SchemaType::Int8 => Value::Int8(parse_int(schema, node, path)?),
        SchemaType::Int16 => Value::Int16(parse_int(schema, node, path)?),
        SchemaType::Int32 => Value::Int32(parse_int(schema, node, path)?),
        SchemaType::Int64 => Value::Int64(parse_int(schema, node, path)?),
        SchemaType::Float32 => Value::Float32(parse_float(schema, node, path)?),
        SchemaType::Float64 => Value::Float64(parse_float(schema, node, path)?),
        SchemaType::Boolean => match node {
            Node::Bool(b) => Value::Boolean(*b),
            other => return Err(mismatch(path, expected_name(schema), other.kind())),
        },
        SchemaType::String => match node {
            Node::Str(t) => Value::String(t.to_string()),
            other => return Err(mismatch(path, expected_name(schema), describe_node(other))),
        },
        SchemaType::Bytes => match node {
            Node::Str(t) => Value::Bytes(
                decode_base64(t)
                    .ok_or_else(|| invalid(path, "Invalid bytes field: not base64".to_owned()))?,
            ),
            other => return Err(mismatch(path, expected_name(schema), describe_node(other))),
        },
        SchemaType::Array => match node {
            Node::Arr(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        to_value(
                            s,
                            schema.value_schema.as_ref(),
                            Some(item),
                            &Path::Index(path, i),
                        )
                    })
                    .collect::<Result<_, _>>()?,
            ),
            other => return Err(mismatch(path, expected_name(schema), describe_node(other))),
        },
        SchemaType::Map => map_value(s, schema, node, path)?,
        SchemaType::Struct => {
            let Node::Obj(_) = node else {
                return Err(mismatch(path, expected_name(schema), describe_node(node)));
            };
            let mut st = Struct::new(schema.clone());
            for field in &schema.fields {
                let v = to_value(
                    s,
                    Some(&field.schema),
                    node.get(&field.name),
                    &Path::Field(path, &field.name),
                )?;
                if !v.is_null() {
                    st.put(&field.name, v)?;
                }
            }
            Value::Struct(st)
        }
    })
}

/// Decimal bytes from base64; empty is not a number.
fn decimal_bytes(text: &str) -> Option<Vec<u8>> {
    decode_base64(text).filter(|b| !b.is_empty())
}

fn map_value(
    s: &Settings,
    schema: &Schema,
    node: &Node<'_>,
    path: &Path<'_>,
) -> Result<Value, ConvertError> {
    let ks = schema.key_schema.as_ref();
    let vs = schema.value_schema.as_ref();
    if ks.is_none_or(|k| k.schema_type == SchemaType::String) {
        let Node::Obj(members) = node else {
            return Err(mismatch(
                path,
                format!(
                    "{} (a JSON object, as its keys are strings)",
                    expected_name(schema)
                ),
                describe_node(node),
            ));
        };
        let mut entries = Vec::with_capacity(members.len());
        for (k, v) in members {
            entries.push((
                Value::String(k.to_string()),
                to_value(s, vs, Some(v), &Path::Field(path, k))?,
            ));
        }
        return Ok(Value::Map(entries));
    }
    let Node::Arr(pairs) = node else {
        return Err(mismatch(
            path,
            format!(
                "{} (a JSON array of [key, value] pairs)",
                expected_name(schema)
            ),
            describe_node(node),
        ));
    };
    let mut entries = Vec::with_capacity(pairs.len());
    for (i, pair) in pairs.iter().enumerate() {
        let at = Path::Index(path, i);
        match pair {
            Node::Arr(kv) if kv.len() == 2 => entries.push((
                to_value(s, ks, kv.first(), &Path::MapKey(&at))?,
                to_value(s, vs, kv.get(1), &at)?,
            )),
            other => {
                return Err(mismatch(
                    &at,
                    "a [key, value] pair".to_owned(),
                    describe_node(other),
                ));
            }
        }
    }
    Ok(Value::Map(entries))
}

/// A value without a schema, inferred as Kafka infers it.
fn schemaless_value(node: &Node<'_>, path: &Path<'_>) -> Result<Value, ConvertError> {
    Ok(match node {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Boolean(*b),
        Node::Num(t) if !t.contains(['.', 'e', 'E']) => Value::Int64(
            t.parse()
                .map_err(|_| invalid(path, format!("{t} is out of range for INT64")))?,
        ),
        Node::Num(t) => Value::Float64(
            t.parse()
                .map_err(|_| invalid(path, format!("{t} is not a number")))?,
        ),
        Node::Str(t) => Value::String(t.to_string()),
        Node::Arr(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| schemaless_value(item, &Path::Index(path, i)))
                .collect::<Result<_, _>>()?,
        ),
        Node::Obj(members) => Value::Map(
            members
                .iter()
                .map(|(k, v)| {
                    Ok((
                        Value::String(k.to_string()),
                        schemaless_value(v, &Path::Field(path, k))?,
                    ))
                })
                .collect::<Result<_, ConvertError>>()?,
        ),
    })
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
