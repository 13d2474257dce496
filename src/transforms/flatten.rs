//! `Flatten`: flattens nested STRUCTs (with schema) or MAPs (schemaless)
//! into one level, joining names with a delimiter.

use std::sync::Arc;

use crate::config::{ConfigDef, ConfigIssue, ConfigKey, ConfigType, Importance, Properties};
use crate::data::{Schema, SchemaRef, SchemaType, SourceRecord, Struct, Value};

use super::util::{self, SchemaCache, Side};
use super::{TransformError, Transformation};

/// Kafka's `Flatten$Key` / `Flatten$Value`: nested fields become top-level
/// fields named `outer<delimiter>inner` (`delimiter` defaults to `.`).
/// With a schema, fields under an optional struct become optional and a
/// null struct gives nulls; arrays and maps are kept as they are.
/// Schemaless, nested maps are flattened and a STRUCT is an error.
#[derive(Debug)]
pub struct Flatten {
    side: Side,
    delimiter: String,
    cache: SchemaCache<SchemaRef>,
}

impl Flatten {
    /// An unconfigured transform for `side`.
    pub fn new(side: Side) -> Self {
        Flatten {
            side,
            delimiter: ".".to_owned(),
            cache: SchemaCache::default(),
        }
    }

    fn name(&self, prefix: &str, name: &str) -> String {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}{}{name}", self.delimiter)
        }
    }

    fn flatten_schema(
        &self,
        s: &Schema,
        prefix: &str,
        optional: bool,
        out: &mut Vec<(String, SchemaRef)>,
    ) {
        for f in &s.fields {
            let name = self.name(prefix, &f.name);
            let opt = optional || f.schema.optional;
            if f.schema.schema_type == SchemaType::Struct {
                self.flatten_schema(&f.schema, &name, opt, out);
            } else if opt && !f.schema.optional {
                let mut fs = (*f.schema).clone();
                fs.optional = true;
                out.push((name, Arc::new(fs)));
            } else {
                out.push((name, f.schema.clone()));
            }
        }
    }

    fn flatten_map(
        &self,
        map: Vec<(Value, Value)>,
        prefix: &str,
        out: &mut Vec<(Value, Value)>,
        label: &str,
    ) -> Result<(), TransformError> {
        for (k, v) in map {
            let key = match &k {
                Value::String(s) => self.name(prefix, s),
                other => return Err(util::mismatch(label, "STRING map keys", other)),
            };
            match v {
                Value::Map(inner) => self.flatten_map(inner, &key, out, label)?,
                Value::Struct(_) => {
                    return Err(TransformError::Invalid(format!(
                        "field `{label}.{key}`: Flatten does not support STRUCT values in records without schemas"
                    )))
                }
                v => out.push((Value::String(key), v)),
            }
        }
        Ok(())
    }
}

/// Pushes `values` of struct schema `s` in flattened order.
fn flatten_values(values: Vec<Value>, s: &Schema, out: &mut Vec<Value>) {
    for (v, f) in values.into_iter().zip(&s.fields) {
        let v = util::read_field(v, f, true);
        if f.schema.schema_type == SchemaType::Struct {
            match v {
                Value::Struct(inner) => flatten_values(inner.into_parts().1, &f.schema, out),
                _ => push_nulls(&f.schema, out),
            }
        } else {
            out.push(v);
        }
    }
}

fn push_nulls(s: &Schema, out: &mut Vec<Value>) {
    for f in &s.fields {
        if f.schema.schema_type == SchemaType::Struct {
            push_nulls(&f.schema, out);
        } else {
            out.push(Value::Null);
        }
    }
}

impl Transformation for Flatten {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new().define(
            ConfigKey::new(
                "delimiter",
                ConfigType::String,
                Importance::Medium,
                "Delimiter to insert between field names from the input record when generating field names for the output record.",
            )
            .default_value("."),
        )
    }

    fn configure(&mut self, configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
        let parsed = self.config_def().parse(configs)?;
        self.delimiter = util::string_of(&parsed, "delimiter");
        self.cache = SchemaCache::default();
        Ok(())
    }

    fn apply(&mut self, mut record: SourceRecord) -> Result<Option<SourceRecord>, TransformError> {
        let (schema, value) = self.side.take(&mut record);
        let label = self.side.label();
        match schema {
            None => {
                let out = match value {
                    Value::Null => Value::Null,
                    v => {
                        let map = util::require_map(v, label)?;
                        let mut out = Vec::with_capacity(map.len());
                        self.flatten_map(map, "", &mut out, label)?;
                        Value::Map(out)
                    }
                };
                self.side.put(&mut record, None, out);
            }
            Some(schema) => {
                let mut cache = std::mem::take(&mut self.cache);
                let flat = cache.get_or_build(&schema, |s| {
                    if s.schema_type != SchemaType::Struct {
                        return Err(util::mismatch_type(label, "STRUCT", s.schema_type));
                    }
                    let mut fields = Vec::new();
                    self.flatten_schema(s, "", false, &mut fields);
                    let out = util::struct_like(s, fields);
                    util::check_unique_fields(&out)?;
                    Ok(Arc::new(out))
                });
                self.cache = cache;
                let flat = flat?;
                let out = match value {
                    Value::Null => Value::Null,
                    v => {
                        let (_, values) = util::require_struct(v, label)?.into_parts();
                        let mut out = Vec::with_capacity(flat.fields.len());
                        flatten_values(values, &schema, &mut out);
                        Value::Struct(Struct::from_parts(flat.clone(), out)?)
                    }
                };
                self.side.put(&mut record, Some(flat), out);
            }
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SchemaBuilder;
    use crate::transforms::test_util::{map, props, record};

    fn configured(delimiter: &str) -> Flatten {
        let mut t = Flatten::new(Side::Value);
        t.configure(&props(&[("delimiter", delimiter)])).unwrap();
        t
    }

    /// Confluent's documented example: `{"content": {"id": 42, "name":
    /// {"first": "David", "middle": null, "last": "Wong"}}}` with `_`.
    #[test]
    fn docs_example_schemaless_nested_maps() {
        let mut t = configured("_");
        let v = map(vec![(
            "content",
            map(vec![
                ("id", Value::Int32(42)),
                (
                    "name",
                    map(vec![
                        ("first", Value::from("David")),
                        ("middle", Value::Null),
                        ("last", Value::from("Wong")),
                    ]),
                ),
            ]),
        )]);
        let out = t.apply(record("t", None, v)).unwrap().unwrap();
        assert_eq!(
            out.value,
            map(vec![
                ("content_id", Value::Int32(42)),
                ("content_name_first", Value::from("David")),
                ("content_name_middle", Value::Null),
                ("content_name_last", Value::from("Wong")),
            ])
        );
    }

    #[test]
    fn schemaful_nested_structs_with_optional_parent() {
        let mut t = configured(".");
        let inner = SchemaBuilder::struct_()
            .optional()
            .field("a", Schema::int32())
            .field("b", Schema::string())
            .build();
        let outer = SchemaBuilder::struct_()
            .name("row")
            .field("id", Schema::int64())
            .field("in", inner.clone())
            .field("tags", SchemaBuilder::array(Schema::string()).build())
            .build();
        let v = Struct::new(outer.clone())
            .with("id", 1i64)
            .unwrap()
            .with(
                "in",
                Struct::new(inner.clone())
                    .with("a", 2)
                    .unwrap()
                    .with("b", "x")
                    .unwrap(),
            )
            .unwrap()
            .with("tags", vec![Value::from("t")])
            .unwrap();
        let out = t
            .apply(record("t", Some(outer.clone()), Value::Struct(v)))
            .unwrap()
            .unwrap();
        out.validate().unwrap();
        let os = out.value_schema.clone().unwrap();
        let names: Vec<&str> = os.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["id", "in.a", "in.b", "tags"]);
        assert!(os.field("in.a").unwrap().schema.optional);
        assert!(!os.field("id").unwrap().schema.optional);
        let ov = out.value.as_struct().unwrap();
        assert_eq!(ov.get("in.a"), Some(&Value::Int32(2)));
        assert_eq!(ov.get("tags"), Some(&Value::Array(vec![Value::from("t")])));
        // A null inner struct gives nulls.
        let v = Struct::new(outer.clone())
            .with("id", 1i64)
            .unwrap()
            .with("tags", Vec::<Value>::new())
            .unwrap();
        let out = t
            .apply(record("t", Some(outer), Value::Struct(v)))
            .unwrap()
            .unwrap();
        out.validate().unwrap();
        assert_eq!(
            out.value.as_struct().unwrap().get("in.b"),
            Some(&Value::Null)
        );
    }

    #[test]
    fn tombstone_keeps_null_with_flattened_schema() {
        let mut t = configured(".");
        let s = SchemaBuilder::struct_()
            .optional()
            .field("a", Schema::int32())
            .build();
        let out = t.apply(record("t", Some(s), Value::Null)).unwrap().unwrap();
        assert_eq!(out.value, Value::Null);
        assert!(out.value_schema.is_some());
    }

    #[test]
    fn bad_data_struct_without_schema_and_name_clash() {
        let mut t = configured(".");
        let s = SchemaBuilder::struct_().field("a", Schema::int32()).build();
        let st = Struct::new(s).with("a", 1).unwrap();
        let err = t
            .apply(record("t", None, map(vec![("x", Value::Struct(st))])))
            .unwrap_err();
        assert!(err.to_string().contains("does not support STRUCT"), "{err}");
        let inner = SchemaBuilder::struct_().field("b", Schema::int32()).build();
        let clash = SchemaBuilder::struct_()
            .field("a.b", Schema::int32())
            .field("a", inner)
            .build();
        let v = Struct::new(clash.clone());
        assert!(t.apply(record("t", Some(clash), Value::Struct(v))).is_err());
    }
}
