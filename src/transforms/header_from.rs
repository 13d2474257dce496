//! `HeaderFrom`: copies or moves fields of the key or value into headers.

use std::sync::Arc;

use crate::config::{
    ConfigDef, ConfigIssue, ConfigKey, ConfigType, Importance, Properties, Validator,
};
use crate::data::{Header, SchemaRef, SchemaType, SourceRecord, Struct, Value};

use super::util::{self, SchemaCache, Side};
use super::{TransformError, Transformation};

/// Per input schema: output schema, kept field indices, listed field indices.
type Plan = Arc<(SchemaRef, Vec<usize>, Vec<usize>)>;

/// Kafka's `HeaderFrom$Key` / `HeaderFrom$Value`: for each `fields[i]`
/// adds a header `headers[i]` with the field's value (and, with a schema,
/// the field's schema); `operation=move` also removes the fields. A
/// field missing from a schema is an error; missing from a MAP it gives
/// a null header. Tombstones pass unchanged.
#[derive(Debug)]
pub struct HeaderFrom {
    side: Side,
    fields: Vec<String>,
    headers: Vec<String>,
    moving: bool,
    replace_null_with_default: bool,
    /// Per input schema: the output schema (without moved fields), the
    /// kept field indices and each listed field's index.
    cache: SchemaCache<Plan>,
}

impl HeaderFrom {
    /// An unconfigured transform for `side`.
    pub fn new(side: Side) -> Self {
        HeaderFrom {
            side,
            fields: Vec::new(),
            headers: Vec::new(),
            moving: false,
            replace_null_with_default: true,
            cache: SchemaCache::default(),
        }
    }
}

impl Transformation for HeaderFrom {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(
                ConfigKey::new("fields", ConfigType::List, Importance::High, "Field names in the record whose values are to be copied or moved to headers.")
                    .validator(Validator::NonEmptyString),
            )
            .define(
                ConfigKey::new("headers", ConfigType::List, Importance::High, "Header names, in the same order as the field names listed in the fields configuration property.")
                    .validator(Validator::NonEmptyString),
            )
            .define(
                ConfigKey::new("operation", ConfigType::String, Importance::High, "Either move if the fields are to be moved to the headers (removed from the key/value), or copy if the fields are to be copied to the headers (retained in the key/value).")
                    .validator(Validator::one_of(&["move", "copy"])),
            )
            .define(util::replace_null_key())
            .define(super::field_path::v1_only_key())
    }

    fn configure(&mut self, configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
        let parsed = self.config_def().parse(configs)?;
        self.fields = util::list_of(&parsed, "fields");
        self.headers = util::list_of(&parsed, "headers");
        self.moving = parsed
            .string("operation")
            .is_some_and(|o| o.eq_ignore_ascii_case("move"));
        self.replace_null_with_default = util::replace_null(&parsed);
        self.cache = SchemaCache::default();
        if self.fields.len() != self.headers.len() {
            return Err(vec![ConfigIssue::new(
                "headers",
                format!(
                    "must have as many items as `fields` ({} headers for {} fields)",
                    self.headers.len(),
                    self.fields.len()
                ),
            )]);
        }
        Ok(())
    }

    fn apply(&mut self, mut record: SourceRecord) -> Result<Option<SourceRecord>, TransformError> {
        if self.side.value(&record).is_null() {
            return Ok(Some(record));
        }
        let (schema, value) = self.side.take(&mut record);
        let label = self.side.label();
        match schema {
            None => {
                let mut map = util::require_map(value, label)?;
                for (field, header) in self.fields.iter().zip(&self.headers) {
                    let v = util::map_get(&map, field).cloned().unwrap_or(Value::Null);
                    record.headers.push(Header {
                        key: header.clone(),
                        schema: None,
                        value: v,
                    });
                }
                if self.moving {
                    map.retain(|(k, _)| {
                        !k.as_str()
                            .is_some_and(|k| self.fields.iter().any(|f| f == k))
                    });
                }
                self.side.put(&mut record, None, Value::Map(map));
            }
            Some(schema) => {
                let fields = &self.fields;
                let moving = self.moving;
                let plan = self.cache.get_or_build(&schema, |s| {
                    if s.schema_type != SchemaType::Struct {
                        return Err(util::mismatch_type(label, "STRUCT", s.schema_type));
                    }
                    let listed = fields
                        .iter()
                        .map(|f| {
                            s.field(f)
                                .map(|f| f.index)
                                .ok_or_else(|| util::unknown_field(f, s))
                        })
                        .collect::<Result<Vec<usize>, _>>()?;
                    let kept: Vec<usize> = s
                        .fields
                        .iter()
                        .filter(|f| !moving || !listed.contains(&f.index))
                        .map(|f| f.index)
                        .collect();
                    let out = if moving {
                        Arc::new(util::struct_like(
                            s,
                            kept.iter()
                                .map(|&i| (s.fields[i].name.clone(), s.fields[i].schema.clone()))
                                .collect(),
                        ))
                    } else {
                        schema.clone()
                    };
                    Ok(Arc::new((out, kept, listed)))
                })?;
                let (out_schema, kept, listed) = &*plan;
                let (_, mut values) = util::require_struct(value, label)?.into_parts();
                for (&i, header) in listed.iter().zip(&self.headers) {
                    let f = &schema.fields[i];
                    let v = util::read_field(values[i].clone(), f, self.replace_null_with_default);
                    record.headers.push(Header {
                        key: header.clone(),
                        schema: Some(f.schema.clone()),
                        value: v,
                    });
                }
                let out = if self.moving {
                    kept.iter()
                        .map(|&i| std::mem::replace(&mut values[i], Value::Null))
                        .collect()
                } else {
                    values
                };
                let s = Struct::from_parts(out_schema.clone(), out)?;
                self.side
                    .put(&mut record, Some(out_schema.clone()), Value::Struct(s));
            }
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Schema, SchemaBuilder};
    use crate::transforms::test_util::{issue_texts, map, props, record};

    fn configured(operation: &str) -> HeaderFrom {
        let mut t = HeaderFrom::new(Side::Value);
        t.configure(&props(&[
            ("fields", "id,ts"),
            ("headers", "record_id,ts"),
            ("operation", operation),
        ]))
        .unwrap();
        t
    }

    fn schema() -> SchemaRef {
        SchemaBuilder::struct_()
            .field("id", Schema::int64())
            .field("ts", Schema::int64())
            .field("body", Schema::string())
            .build()
    }

    fn value(s: &SchemaRef) -> Value {
        Value::Struct(
            Struct::new(s.clone())
                .with("id", 1i64)
                .unwrap()
                .with("ts", 5i64)
                .unwrap()
                .with("body", "b")
                .unwrap(),
        )
    }

    #[test]
    fn schemaful_copy_keeps_fields_and_adds_headers() {
        let mut t = configured("copy");
        let s = schema();
        let out = t
            .apply(record("t", Some(s.clone()), value(&s)))
            .unwrap()
            .unwrap();
        assert!(Arc::ptr_eq(out.value_schema.as_ref().unwrap(), &s));
        assert_eq!(out.headers.len(), 2);
        assert_eq!(out.headers[0].key, "record_id");
        assert_eq!(out.headers[0].value, Value::Int64(1));
        assert_eq!(out.headers[0].schema, Some(Schema::int64()));
    }

    #[test]
    fn schemaful_move_removes_fields() {
        let mut t = configured("move");
        let s = schema();
        let out = t
            .apply(record("t", Some(s.clone()), value(&s)))
            .unwrap()
            .unwrap();
        out.validate().unwrap();
        let os = out.value_schema.unwrap();
        let names: Vec<&str> = os.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["body"]);
        assert_eq!(out.headers[1].value, Value::Int64(5));
    }

    #[test]
    fn schemaless_move_and_missing_field() {
        let mut t = configured("move");
        let out = t
            .apply(record(
                "t",
                None,
                map(vec![("id", Value::Int64(1)), ("body", Value::from("b"))]),
            ))
            .unwrap()
            .unwrap();
        assert_eq!(out.value, map(vec![("body", Value::from("b"))]));
        assert_eq!(out.headers[0].value, Value::Int64(1));
        assert_eq!(out.headers[1].value, Value::Null);
        assert_eq!(out.headers[1].schema, None);
    }

    #[test]
    fn bad_data_missing_schema_field() {
        let mut t = configured("copy");
        let s = SchemaBuilder::struct_()
            .name("row")
            .field("id", Schema::int64())
            .build();
        let v = Struct::new(s.clone()).with("id", 1i64).unwrap();
        let err = t.apply(record("t", Some(s), Value::Struct(v))).unwrap_err();
        assert_eq!(err.to_string(), "no field `ts` in row");
    }

    #[test]
    fn bad_config_mismatched_lengths_and_operation() {
        let mut t = HeaderFrom::new(Side::Value);
        let issues = t
            .configure(&props(&[
                ("fields", "a,b"),
                ("headers", "h"),
                ("operation", "copy"),
            ]))
            .unwrap_err();
        assert_eq!(
            issue_texts(&issues),
            ["headers: must have as many items as `fields` (1 headers for 2 fields)"]
        );
        let issues = t
            .configure(&props(&[
                ("fields", "a"),
                ("headers", "h"),
                ("operation", "rename"),
            ]))
            .unwrap_err();
        assert_eq!(issues[0].key, "operation");
    }
}
