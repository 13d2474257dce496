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

mod parse;
mod read;
mod write;

pub(crate) use parse::decode_base64;
use parse::*;
use read::*;
use write::*;

#[cfg(test)]
mod tests;
