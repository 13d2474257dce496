//! `ExtractField`: replaces the key or value with one of its fields
//! (a nested one with `field.syntax.version=V2`).

use std::sync::Arc;

use crate::config::{ConfigDef, ConfigIssue, ConfigKey, ConfigType, Importance, Properties};
use crate::data::{Schema, SchemaRef, SchemaType, SourceRecord, Value};

use super::field_path;
use super::util::{self, SchemaCache, Side};
use super::{TransformError, Transformation};

/// Kafka's `ExtractField$Key` / `ExtractField$Value`: the STRUCT (with
/// schema) or MAP (schemaless) is replaced by its field `field`, with that
/// field's schema. A null key or value stays null; a field missing from a
/// MAP gives null; a field missing from the schema is an error.
#[derive(Debug)]
pub struct ExtractField {
    side: Side,
    field: String,
    path: Vec<String>,
    replace_null_with_default: bool,
    /// Per input schema: the field index at each level and the field schema.
    cache: SchemaCache<Arc<(Vec<usize>, SchemaRef)>>,
}

impl ExtractField {
    /// An unconfigured transform for `side`.
    pub fn new(side: Side) -> Self {
        ExtractField {
            side,
            field: String::new(),
            path: Vec::new(),
            replace_null_with_default: true,
            cache: SchemaCache::default(),
        }
    }

    fn locate(&self, schema: &Schema) -> Result<Arc<(Vec<usize>, SchemaRef)>, TransformError> {
        let mut indices = Vec::with_capacity(self.path.len());
        let mut current = schema;
        let mut found: Option<&SchemaRef> = None;
        for (depth, name) in self.path.iter().enumerate() {
            if current.schema_type != SchemaType::Struct {
                let at = if depth == 0 {
                    self.side.label().to_owned()
                } else {
                    format!("{}.{}", self.side.label(), self.path[..depth].join("."))
                };
                return Err(util::mismatch_type(&at, "STRUCT", current.schema_type));
            }
            let f = current
                .field(name)
                .ok_or_else(|| util::unknown_field(&self.field, schema))?;
            indices.push(f.index);
            found = Some(&f.schema);
            current = &f.schema;
        }
        let schema = found
            .cloned()
            .ok_or_else(|| TransformError::Invalid("empty field path".into()))?;
        Ok(Arc::new((indices, schema)))
    }
}

impl Transformation for ExtractField {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(ConfigKey::new(
                "field",
                ConfigType::String,
                Importance::Medium,
                "Field name to extract (a dotted path with field.syntax.version=V2).",
            ))
            .define(field_path::syntax_key())
            .define(util::replace_null_key())
    }

    fn configure(&mut self, configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
        let parsed = self.config_def().parse(configs)?;
        self.field = util::string_of(&parsed, "field");
        let v2 = parsed.string(field_path::FIELD_SYNTAX_VERSION) == Some("V2")
            || parsed.string(field_path::FIELD_SYNTAX_VERSION) == Some("v2");
        self.path =
            field_path::parse(&self.field, v2).map_err(|m| vec![ConfigIssue::new("field", m)])?;
        self.replace_null_with_default = util::replace_null(&parsed);
        self.cache = SchemaCache::default();
        Ok(())
    }

    fn apply(&mut self, mut record: SourceRecord) -> Result<Option<SourceRecord>, TransformError> {
        let (schema, value) = self.side.take(&mut record);
        let label = self.side.label();
        match schema {
            None => {
                let mut current = match value {
                    Value::Null => Value::Null,
                    other => Value::Map(util::require_map(other, label)?),
                };
                for name in &self.path {
                    current = match current {
                        Value::Map(entries) => entries
                            .into_iter()
                            .find(|(k, _)| k.as_str() == Some(name))
                            .map_or(Value::Null, |(_, v)| v),
                        _ => Value::Null,
                    };
                }
                self.side.put(&mut record, None, current);
            }
            Some(schema) => {
                let mut cache = std::mem::take(&mut self.cache);
                let located = cache.get_or_build(&schema, |s| self.locate(s));
                self.cache = cache;
                let located = located?;
                let (indices, field_schema) = &*located;
                let mut current = match value {
                    Value::Null => Value::Null,
                    other => Value::Struct(util::require_struct(other, label)?),
                };
                for &i in indices {
                    current = match current {
                        Value::Struct(s) => {
                            let (s_schema, mut values) = s.into_parts();
                            let raw = std::mem::replace(&mut values[i], Value::Null);
                            util::read_field(
                                raw,
                                &s_schema.fields[i],
                                self.replace_null_with_default,
                            )
                        }
                        _ => Value::Null,
                    };
                }
                self.side
                    .put(&mut record, Some(field_schema.clone()), current);
            }
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{SchemaBuilder, Struct};
    use crate::transforms::test_util::{issue_texts, map, props, record};

    fn configured(side: Side, pairs: &[(&str, &str)]) -> ExtractField {
        let mut t = ExtractField::new(side);
        t.configure(&props(pairs)).unwrap();
        t
    }

    #[test]
    fn schemaless_extracts_field_of_map() {
        let mut t = configured(Side::Key, &[("field", "magic")]);
        let r =
            record("t", None, Value::Null).with_key(None, map(vec![("magic", Value::Int32(42))]));
        let out = t.apply(r).unwrap().unwrap();
        assert_eq!(out.key, Value::Int32(42));
        assert_eq!(out.key_schema, None);
        // Missing field: null.
        let r = record("t", None, Value::Null).with_key(None, map(vec![]));
        assert_eq!(t.apply(r).unwrap().unwrap().key, Value::Null);
    }

    #[test]
    fn schemaful_extracts_field_and_its_schema() {
        let mut t = configured(Side::Value, &[("field", "magic")]);
        let s = SchemaBuilder::struct_()
            .field("magic", Schema::int32())
            .build();
        let v = Struct::new(s.clone()).with("magic", 42).unwrap();
        let out = t
            .apply(record("t", Some(s), Value::Struct(v)))
            .unwrap()
            .unwrap();
        assert_eq!(out.value, Value::Int32(42));
        assert_eq!(out.value_schema, Some(Schema::int32()));
    }

    #[test]
    fn tombstones_stay_null_with_the_field_schema() {
        let mut t = configured(Side::Value, &[("field", "magic")]);
        let s = SchemaBuilder::struct_()
            .optional()
            .field("magic", Schema::optional_int32())
            .build();
        let out = t.apply(record("t", Some(s), Value::Null)).unwrap().unwrap();
        assert_eq!(out.value, Value::Null);
        assert_eq!(out.value_schema, Some(Schema::optional_int32()));
        let out = t.apply(record("t", None, Value::Null)).unwrap().unwrap();
        assert_eq!(out.value, Value::Null);
    }

    #[test]
    fn v2_syntax_extracts_nested_fields() {
        let mut t = configured(
            Side::Value,
            &[("field", "a.`b.c`"), ("field.syntax.version", "V2")],
        );
        let inner = SchemaBuilder::struct_()
            .field("b.c", Schema::string())
            .build();
        let outer = SchemaBuilder::struct_().field("a", inner.clone()).build();
        let v = Struct::new(outer.clone())
            .with("a", Struct::new(inner).with("b.c", "deep").unwrap())
            .unwrap();
        let out = t
            .apply(record("t", Some(outer), Value::Struct(v)))
            .unwrap()
            .unwrap();
        assert_eq!(out.value, Value::from("deep"));
        let m = map(vec![("a", map(vec![("b.c", Value::Int8(1))]))]);
        let out = t.apply(record("t", None, m)).unwrap().unwrap();
        assert_eq!(out.value, Value::Int8(1));
    }

    #[test]
    fn bad_data_unknown_field_and_wrong_type() {
        let mut t = configured(Side::Value, &[("field", "nope")]);
        let s = SchemaBuilder::struct_()
            .name("row")
            .field("magic", Schema::int32())
            .build();
        let v = Struct::new(s.clone()).with("magic", 42).unwrap();
        let err = t.apply(record("t", Some(s), Value::Struct(v))).unwrap_err();
        assert_eq!(err.to_string(), "no field `nope` in row");
        let err = t.apply(record("t", None, Value::Int32(1))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `value`: expected MAP (schemaless record), got INT32"
        );
    }

    #[test]
    fn bad_config_missing_field_and_bad_syntax_version() {
        let mut t = ExtractField::new(Side::Value);
        let issues = t
            .configure(&props(&[("field.syntax.version", "V3")]))
            .unwrap_err();
        assert_eq!(
            issue_texts(&issues),
            [
                "field: missing required configuration, which has no default value",
                "field.syntax.version: must be one of [V1, V2], got `V3`",
            ]
        );
    }
}
