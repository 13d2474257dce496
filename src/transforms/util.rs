//! Helpers the transforms share: which half of a record a `$Key` / `$Value`
//! transform works on, a cache of derived schemas, type checks with
//! Kafka's wording, and Java-compatible value formatting.

use std::sync::Arc;

use crate::config::{ConfigIssue, ConfigKey, ConfigType, Importance, ParsedConfig};
use crate::data::{DataError, Field, LogicalType, Schema, SchemaRef, SourceRecord, Struct, Value};

use super::TransformError;

/// The half of a record a transform works on: Kafka's `$Key` and `$Value`
/// variants of one transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The record key (`…$Key`).
    Key,
    /// The record value (`…$Value`).
    Value,
}

impl Side {
    /// `key` or `value`, as used in error messages and field paths.
    pub fn label(self) -> &'static str {
        match self {
            Side::Key => "key",
            Side::Value => "value",
        }
    }

    /// Kafka's class-name suffix: `Key` or `Value`.
    pub fn suffix(self) -> &'static str {
        match self {
            Side::Key => "Key",
            Side::Value => "Value",
        }
    }

    /// The schema of this side.
    pub fn schema(self, r: &SourceRecord) -> Option<&SchemaRef> {
        match self {
            Side::Key => r.key_schema.as_ref(),
            Side::Value => r.value_schema.as_ref(),
        }
    }

    /// The value of this side.
    pub fn value(self, r: &SourceRecord) -> &Value {
        match self {
            Side::Key => &r.key,
            Side::Value => &r.value,
        }
    }

    /// Moves the schema and value of this side out of the record, leaving
    /// `None` and `Null`.
    pub fn take(self, r: &mut SourceRecord) -> (Option<SchemaRef>, Value) {
        match self {
            Side::Key => (
                r.key_schema.take(),
                std::mem::replace(&mut r.key, Value::Null),
            ),
            Side::Value => (
                r.value_schema.take(),
                std::mem::replace(&mut r.value, Value::Null),
            ),
        }
    }

    /// Puts a schema and value on this side.
    pub fn put(self, r: &mut SourceRecord, schema: Option<SchemaRef>, value: Value) {
        match self {
            Side::Key => {
                r.key_schema = schema;
                r.key = value;
            }
            Side::Value => {
                r.value_schema = schema;
                r.value = value;
            }
        }
    }
}

/// How many derived schemas a transform remembers (Kafka keeps 16).
const CACHE_CAPACITY: usize = 16;

/// Derived schemas (or anything derived from a schema) keyed by the input
/// schema: first by `Arc` pointer, which is what records of one stream
/// share, then by equality, so an equal schema in a new allocation is
/// built only once. Holding the key `Arc` keeps its address from being
/// reused while it is cached.
#[derive(Debug)]
pub struct SchemaCache<T> {
    entries: Vec<(SchemaRef, T)>,
}

impl<T> Default for SchemaCache<T> {
    fn default() -> Self {
        SchemaCache {
            entries: Vec::new(),
        }
    }
}

impl<T: Clone> SchemaCache<T> {
    /// The entry for `schema`, built with `build` on a miss.
    pub fn get_or_build(
        &mut self,
        schema: &SchemaRef,
        build: impl FnOnce(&Schema) -> Result<T, TransformError>,
    ) -> Result<T, TransformError> {
        if let Some((_, v)) = self.entries.iter().find(|(k, _)| Arc::ptr_eq(k, schema)) {
            return Ok(v.clone());
        }
        let found = self
            .entries
            .iter()
            .find(|(k, _)| **k == **schema)
            .map(|(_, v)| v.clone());
        let value = match found {
            Some(v) => v,
            None => build(schema)?,
        };
        if self.entries.len() >= CACHE_CAPACITY {
            self.entries.remove(0);
        }
        self.entries.push((Arc::clone(schema), value.clone()));
        Ok(value)
    }

    /// Number of cached entries (for tests).
    #[cfg(test)]
    pub fn cached(&self) -> usize {
        self.entries.len()
    }
}

/// The STRUCT a schemaful transform needs, or a type error naming `path`.
pub fn require_struct(value: Value, path: &str) -> Result<Struct, TransformError> {
    match value {
        Value::Struct(s) => Ok(s),
        other => Err(mismatch(path, "STRUCT", &other)),
    }
}

/// The MAP a schemaless transform needs, or a type error naming `path`.
pub fn require_map(value: Value, path: &str) -> Result<Vec<(Value, Value)>, TransformError> {
    match value {
        Value::Map(m) => Ok(m),
        other => Err(mismatch(path, "MAP (schemaless record)", &other)),
    }
}

/// A type-mismatch error for `path`.
pub fn mismatch(path: &str, expected: &str, actual: &Value) -> TransformError {
    TransformError::Data(DataError::TypeMismatch {
        field: path.to_owned(),
        expected: expected.to_owned(),
        actual: actual.type_name().to_owned(),
    })
}

/// A type-mismatch error for `path` whose schema has the wrong type.
pub fn mismatch_type(
    path: &str,
    expected: &str,
    actual: crate::data::SchemaType,
) -> TransformError {
    TransformError::Data(DataError::TypeMismatch {
        field: path.to_owned(),
        expected: expected.to_owned(),
        actual: actual.name().to_owned(),
    })
}

/// An unknown-field error for `field` of `schema`.
pub fn unknown_field(field: &str, schema: &Schema) -> TransformError {
    TransformError::Data(DataError::UnknownField {
        field: field.to_owned(),
        schema: schema_label(schema),
    })
}

/// The schema's name, or its type.
pub fn schema_label(schema: &Schema) -> String {
    schema
        .name
        .clone()
        .unwrap_or_else(|| schema.schema_type.name().to_owned())
}

/// `base.name`, for error paths.
pub fn path(base: &str, name: &str) -> String {
    format!("{base}.{name}")
}

/// The entry of a schemaless map under the string key `name`.
pub fn map_get<'a>(map: &'a [(Value, Value)], name: &str) -> Option<&'a Value> {
    map.iter()
        .find(|(k, _)| k.as_str() == Some(name))
        .map(|(_, v)| v)
}

/// The position of the string key `name` in a schemaless map.
pub fn map_position(map: &[(Value, Value)], name: &str) -> Option<usize> {
    map.iter().position(|(k, _)| k.as_str() == Some(name))
}

/// Sets `name` in a schemaless map, replacing an existing entry in place.
pub fn map_put(map: &mut Vec<(Value, Value)>, name: &str, value: Value) {
    match map_position(map, name) {
        Some(i) => map[i].1 = value,
        None => map.push((Value::String(name.to_owned()), value)),
    }
}

/// A field value as Kafka's `Struct.get` reads it: a `null` reads as the
/// field's default when `replace_null_with_default` is set (Kafka's
/// default), and stays `null` otherwise (`getWithoutDefault`).
pub fn read_field(raw: Value, field: &Field, replace_null_with_default: bool) -> Value {
    if replace_null_with_default && raw.is_null() {
        if let Some(d) = &field.schema.default {
            return d.clone();
        }
    }
    raw
}

/// Kafka's `replace.null.with.default` key (KIP-1040).
pub fn replace_null_key() -> ConfigKey {
    ConfigKey::new(
        "replace.null.with.default",
        ConfigType::Boolean,
        Importance::Medium,
        "Whether a null field value is replaced by the field's default value, \
         if it has one (as Kafka's Struct.get does).",
    )
    .default_value("true")
}

/// Reads `replace.null.with.default` from a parsed config.
pub fn replace_null(parsed: &ParsedConfig) -> bool {
    parsed.boolean("replace.null.with.default").unwrap_or(true)
}

/// A required, non-empty STRING from a parsed config.
pub fn string_of(parsed: &ParsedConfig, key: &str) -> String {
    parsed.string(key).unwrap_or_default().to_owned()
}

/// A LIST from a parsed config.
pub fn list_of(parsed: &ParsedConfig, key: &str) -> Vec<String> {
    parsed.list(key).map(<[String]>::to_vec).unwrap_or_default()
}

/// Collects issues; `Ok` when there are none.
pub fn issues_or<T>(issues: Vec<ConfigIssue>, ok: T) -> Result<T, Vec<ConfigIssue>> {
    if issues.is_empty() {
        Ok(ok)
    } else {
        Err(issues)
    }
}

/// A copy of `schema` with its name, version, doc and parameters and
/// optionality but the given type-specific parts (Kafka's
/// `SchemaUtil.copySchemaBasics`), with no fields and no default.
pub fn copy_basics(schema: &Schema, into: Schema) -> Schema {
    Schema {
        name: schema.name.clone(),
        version: schema.version,
        doc: schema.doc.clone(),
        parameters: schema.parameters.clone(),
        optional: schema.optional,
        ..into
    }
}

/// A STRUCT schema like `schema` (name, version, doc, parameters,
/// optionality) with the given fields, renumbered in order.
pub fn struct_like(schema: &Schema, fields: Vec<(String, SchemaRef)>) -> Schema {
    let mut out = copy_basics(schema, Schema::of(crate::data::SchemaType::Struct));
    out.fields = fields
        .into_iter()
        .enumerate()
        .map(|(index, (name, schema))| Field {
            name,
            index,
            schema,
        })
        .collect();
    out
}

/// Checks a struct schema has no field name twice.
pub fn check_unique_fields(schema: &Schema) -> Result<(), TransformError> {
    for (i, f) in schema.fields.iter().enumerate() {
        if schema.fields[..i].iter().any(|g| g.name == f.name) {
            return Err(TransformError::Data(DataError::DuplicateField {
                field: f.name.clone(),
                schema: schema_label(schema),
            }));
        }
    }
    Ok(())
}

/// Java's `Float.toString` / `Double.toString` form of a float: at least
/// one digit after the point, scientific (`1.0E10`) outside `1e-3..1e7`.
pub fn java_float(v: f64, single: bool) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    let a = v.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        // Shortest round-trip digits, always with a fractional part.
        return if single {
            format!("{:?}", v as f32)
        } else {
            format!("{v:?}")
        };
    }
    let sci = if single {
        format!("{:e}", v as f32)
    } else {
        format!("{v:e}")
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let mantissa = if mantissa.contains('.') {
        mantissa.to_owned()
    } else {
        format!("{mantissa}.0")
    };
    format!("{mantissa}E{exp}")
}

pub use crate::data::json::base64;

/// The logical type of an optional schema.
pub fn logical_of(schema: Option<&Schema>) -> Option<LogicalType> {
    schema.and_then(LogicalType::of)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_float_formats_like_java() {
        assert_eq!(java_float(1.0, false), "1.0");
        assert_eq!(java_float(1.5, true), "1.5");
        assert_eq!(java_float(1e10, false), "1.0E10");
        assert_eq!(java_float(1.25e-5, false), "1.25E-5");
        assert_eq!(java_float(0.0, false), "0.0");
        assert_eq!(java_float(-12345.5, false), "-12345.5");
    }

    #[test]
    fn base64_pads_like_java() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xff, 0xfe]), "//4=");
    }

    #[test]
    fn schema_cache_hits_by_pointer_then_by_equality() {
        let mut cache: SchemaCache<u32> = SchemaCache::default();
        let a = crate::data::SchemaBuilder::struct_()
            .field("x", Schema::int32())
            .build();
        let mut builds = 0;
        for _ in 0..3 {
            cache
                .get_or_build(&a, |_| {
                    builds += 1;
                    Ok(1)
                })
                .unwrap();
        }
        let equal_copy = Arc::new((*a).clone());
        cache
            .get_or_build(&equal_copy, |_| {
                builds += 1;
                Ok(2)
            })
            .unwrap();
        assert_eq!(builds, 1);
        assert_eq!(cache.cached(), 2);
    }
}
