//! `HoistField`: wraps the key or value in a STRUCT (with schema) or MAP
//! (schemaless) under a single field.

use crate::config::{ConfigDef, ConfigIssue, ConfigKey, ConfigType, Importance, Properties};
use crate::data::{DataError, SchemaBuilder, SchemaRef, SourceRecord, Struct, Value};

use super::util::{self, SchemaCache, Side};
use super::{TransformError, Transformation};

/// Kafka's `HoistField$Key` / `HoistField$Value`: the value `v` becomes
/// `{field: v}` — a MAP without a schema, a STRUCT with one whose only
/// field has the original schema. A null value with a required schema
/// fails, as Kafka's `Struct.put` does.
#[derive(Debug)]
pub struct HoistField {
    side: Side,
    field: String,
    cache: SchemaCache<SchemaRef>,
}

impl HoistField {
    /// An unconfigured transform for `side`.
    pub fn new(side: Side) -> Self {
        HoistField {
            side,
            field: String::new(),
            cache: SchemaCache::default(),
        }
    }
}

impl Transformation for HoistField {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new().define(ConfigKey::new(
            "field",
            ConfigType::String,
            Importance::Medium,
            "Field name for the single field that will be created in the resulting Struct or Map.",
        ))
    }

    fn configure(&mut self, configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
        let parsed = self.config_def().parse(configs)?;
        self.field = util::string_of(&parsed, "field");
        self.cache = SchemaCache::default();
        Ok(())
    }

    fn apply(&mut self, mut record: SourceRecord) -> Result<Option<SourceRecord>, TransformError> {
        let (schema, value) = self.side.take(&mut record);
        match schema {
            None => {
                let map = vec![(Value::String(self.field.clone()), value)];
                self.side.put(&mut record, None, Value::Map(map));
            }
            Some(schema) => {
                let field = &self.field;
                let out = self.cache.get_or_build(&schema, |_| {
                    Ok(SchemaBuilder::struct_()
                        .field(field, schema.clone())
                        .build())
                })?;
                if value.is_null() && !schema.optional {
                    return Err(TransformError::Data(DataError::NullForRequired {
                        field: util::path(self.side.label(), field),
                        expected: schema.schema_type.name().to_owned(),
                    }));
                }
                let s = Struct::from_parts(out.clone(), vec![value])?;
                self.side.put(&mut record, Some(out), Value::Struct(s));
            }
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Schema;
    use crate::transforms::test_util::{issue_texts, map, props, record};

    fn configured(side: Side) -> HoistField {
        let mut t = HoistField::new(side);
        t.configure(&props(&[("field", "line")])).unwrap();
        t
    }

    /// Kafka's documented example: HoistField$Value with `field=line`
    /// turns the string `hello` into `{"line": "hello"}`.
    #[test]
    fn kafka_docs_example_hoists_string_into_map() {
        let mut t = configured(Side::Value);
        let out = t
            .apply(record("t", None, Value::from("hello")))
            .unwrap()
            .unwrap();
        assert_eq!(out.value, map(vec![("line", Value::from("hello"))]));
        assert_eq!(out.value_schema, None);
    }

    #[test]
    fn schemaful_hoists_into_struct_with_original_schema() {
        let mut t = configured(Side::Key);
        let r = record("t", None, Value::Null).with_key(Some(Schema::int32()), Value::Int32(42));
        let out = t.apply(r).unwrap().unwrap();
        out.validate().unwrap();
        let ks = out.key_schema.unwrap();
        assert_eq!(ks.fields.len(), 1);
        assert_eq!(ks.fields[0].name, "line");
        assert_eq!(*ks.fields[0].schema, *Schema::int32());
        assert_eq!(
            out.key.as_struct().unwrap().get("line"),
            Some(&Value::Int32(42))
        );
    }

    #[test]
    fn null_with_optional_schema_hoists_null_but_required_fails() {
        let mut t = configured(Side::Value);
        let out = t
            .apply(record("t", Some(Schema::optional_string()), Value::Null))
            .unwrap()
            .unwrap();
        assert_eq!(
            out.value.as_struct().unwrap().get("line"),
            Some(&Value::Null)
        );
        let err = t
            .apply(record("t", Some(Schema::string()), Value::Null))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `value.line`: null value for field that is required and has no default value (STRING)"
        );
    }

    #[test]
    fn bad_config_needs_field() {
        let mut t = HoistField::new(Side::Value);
        assert_eq!(
            issue_texts(&t.configure(&Properties::new()).unwrap_err()),
            ["field: missing required configuration, which has no default value"]
        );
    }
}
