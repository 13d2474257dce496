//! `ValueToKey`: replaces the key with a STRUCT or MAP of some of the
//! value's fields.

use std::sync::Arc;

use crate::config::{
    ConfigDef, ConfigIssue, ConfigKey, ConfigType, Importance, Properties, Validator,
};
use crate::data::{Schema, SchemaBuilder, SchemaRef, SchemaType, SourceRecord, Struct, Value};

use super::util::{self, SchemaCache};
use super::{TransformError, Transformation};

/// Kafka's `ValueToKey`: the key becomes the value's `fields` — a MAP
/// for schemaless values (a missing field reads as null), a STRUCT with
/// those fields' schemas otherwise (a missing field is an error).
#[derive(Debug)]
pub struct ValueToKey {
    fields: Vec<String>,
    replace_null_with_default: bool,
    /// Per value schema: the key schema and the value field indices.
    cache: SchemaCache<Arc<(SchemaRef, Vec<usize>)>>,
}

impl Default for ValueToKey {
    fn default() -> Self {
        ValueToKey {
            fields: Vec::new(),
            replace_null_with_default: true,
            cache: SchemaCache::default(),
        }
    }
}

impl ValueToKey {
    /// An unconfigured transform; configure it with `fields`.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Transformation for ValueToKey {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(
                ConfigKey::new(
                    "fields",
                    ConfigType::List,
                    Importance::High,
                    "Field names on the record value to extract as the record key.",
                )
                .validator(Validator::NonEmptyString),
            )
            .define(util::replace_null_key())
            .define(super::field_path::v1_only_key())
    }

    fn configure(&mut self, configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
        let parsed = self.config_def().parse(configs)?;
        self.fields = util::list_of(&parsed, "fields");
        self.replace_null_with_default = util::replace_null(&parsed);
        self.cache = SchemaCache::default();
        Ok(())
    }

    fn apply(&mut self, mut record: SourceRecord) -> Result<Option<SourceRecord>, TransformError> {
        match &record.value_schema {
            None => {
                let Value::Map(map) = &record.value else {
                    return Err(util::mismatch(
                        "value",
                        "MAP (schemaless record)",
                        &record.value,
                    ));
                };
                let key = self
                    .fields
                    .iter()
                    .map(|f| {
                        (
                            Value::String(f.clone()),
                            util::map_get(map, f).cloned().unwrap_or(Value::Null),
                        )
                    })
                    .collect();
                record.key_schema = None;
                record.key = Value::Map(key);
            }
            Some(schema) => {
                let fields = &self.fields;
                let plan = self.cache.get_or_build(schema, |s: &Schema| {
                    if s.schema_type != SchemaType::Struct {
                        return Err(util::mismatch_type("value", "STRUCT", s.schema_type));
                    }
                    let mut b = SchemaBuilder::struct_();
                    let mut indices = Vec::with_capacity(fields.len());
                    for name in fields {
                        let f = s.field(name).ok_or_else(|| util::unknown_field(name, s))?;
                        b = b.field(name, f.schema.clone());
                        indices.push(f.index);
                    }
                    let key_schema = b.try_build()?;
                    Ok(Arc::new((key_schema, indices)))
                })?;
                let Value::Struct(value) = &record.value else {
                    return Err(util::mismatch("value", "STRUCT", &record.value));
                };
                let values = plan
                    .1
                    .iter()
                    .map(|&i| {
                        let raw = value.values()[i].clone();
                        util::read_field(raw, &schema.fields[i], self.replace_null_with_default)
                    })
                    .collect();
                record.key = Value::Struct(Struct::from_parts(plan.0.clone(), values)?);
                record.key_schema = Some(plan.0.clone());
            }
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::test_util::{issue_texts, map, props, record};

    fn configured() -> ValueToKey {
        let mut t = ValueToKey::new();
        t.configure(&props(&[("fields", "a,b")])).unwrap();
        t
    }

    #[test]
    fn schemaless_copies_fields_into_key_map() {
        let mut t = configured();
        let v = map(vec![
            ("a", Value::Int32(1)),
            ("b", Value::Int32(2)),
            ("c", Value::Int32(3)),
        ]);
        let out = t.apply(record("t", None, v.clone())).unwrap().unwrap();
        assert_eq!(
            out.key,
            map(vec![("a", Value::Int32(1)), ("b", Value::Int32(2))])
        );
        assert_eq!(out.value, v);
    }

    #[test]
    fn schemaful_copies_fields_into_key_struct() {
        let mut t = configured();
        let s = SchemaBuilder::struct_()
            .field("a", Schema::int32())
            .field("b", Schema::int32())
            .field("c", Schema::int32())
            .build();
        let v = Struct::new(s.clone())
            .with("a", 1)
            .unwrap()
            .with("b", 2)
            .unwrap()
            .with("c", 3)
            .unwrap();
        let out = t
            .apply(record("t", Some(s), Value::Struct(v)))
            .unwrap()
            .unwrap();
        out.validate().unwrap();
        let ks = out.key_schema.unwrap();
        let names: Vec<&str> = ks.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let k = out.key.as_struct().unwrap();
        assert_eq!(k.get("a"), Some(&Value::Int32(1)));
        assert_eq!(k.get("b"), Some(&Value::Int32(2)));
    }

    #[test]
    fn bad_data_missing_field_and_tombstone() {
        let mut t = configured();
        let s = SchemaBuilder::struct_()
            .name("row")
            .field("a", Schema::int32())
            .build();
        let v = Struct::new(s.clone()).with("a", 1).unwrap();
        let err = t.apply(record("t", Some(s), Value::Struct(v))).unwrap_err();
        assert_eq!(err.to_string(), "no field `b` in row");
        let err = t.apply(record("t", None, Value::Null)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `value`: expected MAP (schemaless record), got NULL"
        );
    }

    #[test]
    fn bad_config_needs_fields() {
        let mut t = ValueToKey::new();
        assert_eq!(
            issue_texts(&t.configure(&Properties::new()).unwrap_err()),
            ["fields: missing required configuration, which has no default value"]
        );
    }
}
