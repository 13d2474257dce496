//! `InsertField`: adds the record's topic, Kafka partition, timestamp
//! and/or a static string to a STRUCT (with schema) or MAP (schemaless).

use std::sync::Arc;

use crate::config::{ConfigDef, ConfigIssue, ConfigKey, ConfigType, Importance, Properties};
use crate::data::{logical, DataError, Schema, SchemaRef, SourceRecord, Struct, Value};

use super::util::{self, SchemaCache, Side};
use super::{TransformError, Transformation};

/// A configured field: its name and whether it is optional
/// (`name` or `name?`) or required (`name!`).
#[derive(Clone, Debug, PartialEq)]
struct FieldSpec {
    name: String,
    optional: bool,
}

impl FieldSpec {
    fn parse(text: &str) -> Option<FieldSpec> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        Some(match text.strip_suffix('!') {
            Some(name) => FieldSpec {
                name: name.to_owned(),
                optional: false,
            },
            None => FieldSpec {
                name: text.strip_suffix('?').unwrap_or(text).to_owned(),
                optional: true,
            },
        })
    }
}

/// The output schema for one input schema, and which input fields have
/// defaults (filled in for `null` when `replace.null.with.default`).
#[derive(Debug)]
struct Plan {
    schema: SchemaRef,
    defaulted: Vec<usize>,
}

/// Kafka's `InsertField$Key` / `InsertField$Value`: inserts
/// `topic.field`, `partition.field`, `timestamp.field` and
/// `static.field` (with `static.value`). A field name ending in `!` is
/// required, otherwise (or ending in `?`) optional. Tombstones (a null
/// key or value) pass unchanged. `offset.field` is refused: Kafka allows
/// it only for sink records.
#[derive(Debug)]
pub struct InsertField {
    side: Side,
    topic: Option<FieldSpec>,
    partition: Option<FieldSpec>,
    timestamp: Option<FieldSpec>,
    static_field: Option<FieldSpec>,
    static_value: Option<String>,
    replace_null_with_default: bool,
    cache: SchemaCache<Arc<Plan>>,
}

const FIELD_KEYS: [(&str, &str); 4] = [
    ("topic.field", "Field name for the topic. Suffix with ! to make it required, ? (the default) optional."),
    ("partition.field", "Field name for the Kafka partition. Suffix with ! to make it required, ? (the default) optional."),
    ("offset.field", "Field name for the Kafka offset: only for sink records, refused here."),
    ("timestamp.field", "Field name for the record timestamp. Suffix with ! to make it required, ? (the default) optional."),
];

impl InsertField {
    /// An unconfigured transform for `side`.
    pub fn new(side: Side) -> Self {
        InsertField {
            side,
            topic: None,
            partition: None,
            timestamp: None,
            static_field: None,
            static_value: None,
            replace_null_with_default: true,
            cache: SchemaCache::default(),
        }
    }

    /// The inserted fields' schemas, in Kafka's order.
    fn inserted_schemas(&self) -> Vec<(String, SchemaRef)> {
        let mut out = Vec::new();
        let pick = |spec: &FieldSpec, required: SchemaRef, optional: SchemaRef| {
            (
                spec.name.clone(),
                if spec.optional { optional } else { required },
            )
        };
        if let Some(s) = &self.topic {
            out.push(pick(s, Schema::string(), Schema::optional_string()));
        }
        if let Some(s) = &self.partition {
            out.push(pick(s, Schema::int32(), Schema::optional_int32()));
        }
        if let Some(s) = &self.timestamp {
            out.push(pick(
                s,
                logical::timestamp_schema(),
                logical::timestamp_builder().optional().build(),
            ));
        }
        if let Some(s) = &self.static_field {
            out.push(pick(s, Schema::string(), Schema::optional_string()));
        }
        out
    }

    /// The inserted values, in the order of [`InsertField::inserted_schemas`].
    fn inserted_values(&self, r: &SourceRecord) -> Vec<(&FieldSpec, Value)> {
        let mut out = Vec::with_capacity(4);
        if let Some(s) = &self.topic {
            out.push((s, Value::String(r.topic.to_string())));
        }
        if let Some(s) = &self.partition {
            out.push((s, r.kafka_partition.map_or(Value::Null, Value::Int32)));
        }
        if let Some(s) = &self.timestamp {
            out.push((s, r.timestamp.map_or(Value::Null, Value::Int64)));
        }
        if let Some(s) = &self.static_field {
            out.push((
                s,
                self.static_value
                    .as_ref()
                    .map_or(Value::Null, |v| Value::String(v.clone())),
            ));
        }
        out
    }

    fn plan(&mut self, schema: &SchemaRef) -> Result<Arc<Plan>, TransformError> {
        let inserted = self.inserted_schemas();
        let path = self.side.label();
        self.cache.get_or_build(schema, |s| {
            if s.schema_type != crate::data::SchemaType::Struct {
                return Err(TransformError::Data(DataError::TypeMismatch {
                    field: path.to_owned(),
                    expected: "STRUCT".into(),
                    actual: s.schema_type.name().into(),
                }));
            }
            let mut fields: Vec<(String, SchemaRef)> = s
                .fields
                .iter()
                .map(|f| (f.name.clone(), f.schema.clone()))
                .collect();
            fields.extend(inserted);
            let out = util::struct_like(s, fields);
            util::check_unique_fields(&out)?;
            let defaulted = s
                .fields
                .iter()
                .filter(|f| f.schema.default.is_some())
                .map(|f| f.index)
                .collect();
            Ok(Arc::new(Plan {
                schema: Arc::new(out),
                defaulted,
            }))
        })
    }
}

impl Transformation for InsertField {
    fn config_def(&self) -> ConfigDef {
        let mut def = ConfigDef::new();
        for (key, doc) in FIELD_KEYS {
            def = def.define(
                ConfigKey::new(key, ConfigType::String, Importance::Medium, doc).optional(),
            );
        }
        def.define(
            ConfigKey::new(
                "static.field",
                ConfigType::String,
                Importance::Medium,
                "Field name for a static string. Suffix with ! to make it required, ? (the default) optional.",
            )
            .optional(),
        )
        .define(
            ConfigKey::new(
                "static.value",
                ConfigType::String,
                Importance::Medium,
                "The static string, if static.field is set.",
            )
            .optional(),
        )
        .define(util::replace_null_key())
        .define(super::field_path::v1_only_key())
    }

    fn configure(&mut self, configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
        let parsed = self.config_def().parse(configs)?;
        let spec = |key: &str| parsed.string(key).and_then(FieldSpec::parse);
        let mut issues = Vec::new();
        if parsed.string("offset.field").is_some() {
            issues.push(ConfigIssue::new(
                "offset.field",
                "the Kafka offset exists only for sink records (Kafka fails every source record \
                 with this key); remove it",
            ));
        }
        self.topic = spec("topic.field");
        self.partition = spec("partition.field");
        self.timestamp = spec("timestamp.field");
        self.static_field = spec("static.field");
        self.static_value = parsed.string("static.value").map(str::to_owned);
        self.replace_null_with_default = util::replace_null(&parsed);
        self.cache = SchemaCache::default();
        util::issues_or(issues, ())
    }

    fn apply(&mut self, mut record: SourceRecord) -> Result<Option<SourceRecord>, TransformError> {
        if self.side.value(&record).is_null() {
            return Ok(Some(record));
        }
        let (schema, value) = self.side.take(&mut record);
        let path = self.side.label();
        match schema {
            None => {
                let mut map = util::require_map(value, path)?;
                for (spec, v) in self.inserted_values(&record) {
                    util::map_put(&mut map, &spec.name, v);
                }
                self.side.put(&mut record, None, Value::Map(map));
            }
            Some(schema) => {
                let plan = self.plan(&schema)?;
                let (_, mut values) = util::require_struct(value, path)?.into_parts();
                if self.replace_null_with_default {
                    for &i in &plan.defaulted {
                        if values[i].is_null() {
                            values[i] = schema.fields[i]
                                .schema
                                .default
                                .clone()
                                .unwrap_or(Value::Null);
                        }
                    }
                }
                let base = values.len();
                for (j, (spec, v)) in self.inserted_values(&record).into_iter().enumerate() {
                    if v.is_null() && !spec.optional {
                        let ty = plan
                            .schema
                            .fields
                            .get(base + j)
                            .map(|f| f.schema.schema_type);
                        return Err(TransformError::Data(DataError::NullForRequired {
                            field: util::path(path, &spec.name),
                            expected: ty.map_or("", |t| t.name()).to_owned(),
                        }));
                    }
                    values.push(v);
                }
                let out = Struct::from_parts(plan.schema.clone(), values)?;
                self.side
                    .put(&mut record, Some(plan.schema.clone()), Value::Struct(out));
            }
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SchemaBuilder;
    use crate::transforms::test_util::{issue_texts, map, props, record};

    fn configured(side: Side, pairs: &[(&str, &str)]) -> InsertField {
        let mut t = InsertField::new(side);
        t.configure(&props(pairs)).unwrap();
        t
    }

    fn all_fields() -> InsertField {
        configured(
            Side::Value,
            &[
                ("topic.field", "topic_field!"),
                ("partition.field", "partition_field"),
                ("timestamp.field", "timestamp_field?"),
                ("static.field", "instance_id"),
                ("static.value", "my-instance-id"),
            ],
        )
    }

    /// Kafka's documented example: `static.field=data_source`,
    /// `static.value=test-file-source` on a schemaless map.
    #[test]
    fn kafka_docs_example_inserts_static_field_into_map() {
        let mut t = configured(
            Side::Value,
            &[
                ("static.field", "data_source"),
                ("static.value", "test-file-source"),
            ],
        );
        let r = record("t", None, map(vec![("line", Value::from("hello"))]));
        let out = t.apply(r).unwrap().unwrap();
        assert_eq!(
            out.value,
            map(vec![
                ("line", Value::from("hello")),
                ("data_source", Value::from("test-file-source")),
            ])
        );
    }

    #[test]
    fn schemaless_insert_of_every_field() {
        let mut t = all_fields();
        let mut r = record("test", None, map(vec![("magic", Value::Int64(42))])).with_timestamp(0);
        r.kafka_partition = Some(0);
        let out = t.apply(r).unwrap().unwrap();
        assert_eq!(
            out.value,
            map(vec![
                ("magic", Value::Int64(42)),
                ("topic_field", Value::from("test")),
                ("partition_field", Value::Int32(0)),
                ("timestamp_field", Value::Int64(0)),
                ("instance_id", Value::from("my-instance-id")),
            ])
        );
    }

    #[test]
    fn schemaful_insert_builds_schema_with_optionality_and_caches_it() {
        let mut t = all_fields();
        let schema = SchemaBuilder::struct_()
            .name("name")
            .version(1)
            .doc("doc")
            .field("magic", Schema::optional_int64())
            .build();
        let v = Struct::new(schema.clone()).with("magic", 42i64).unwrap();
        let mut r =
            record("test", Some(schema.clone()), Value::Struct(v.clone())).with_timestamp(5);
        r.kafka_partition = Some(0);
        let out = t.apply(r.clone()).unwrap().unwrap();
        out.validate().unwrap();
        let s = out.value_schema.clone().unwrap();
        assert_eq!(s.name.as_deref(), Some("name"));
        assert_eq!(s.version, Some(1));
        assert_eq!(s.doc.as_deref(), Some("doc"));
        assert_eq!(*s.field("topic_field").unwrap().schema, *Schema::string());
        assert_eq!(
            *s.field("partition_field").unwrap().schema,
            *Schema::optional_int32()
        );
        let ts = &s.field("timestamp_field").unwrap().schema;
        assert_eq!(ts.name.as_deref(), Some(logical::TIMESTAMP_NAME));
        assert!(ts.optional);
        let out_v = out.value.as_struct().unwrap();
        assert_eq!(out_v.get("magic"), Some(&Value::Int64(42)));
        assert_eq!(out_v.get("topic_field"), Some(&Value::from("test")));
        assert_eq!(out_v.get("partition_field"), Some(&Value::Int32(0)));
        assert_eq!(out_v.get("timestamp_field"), Some(&Value::Int64(5)));
        assert_eq!(
            out_v.get("instance_id"),
            Some(&Value::from("my-instance-id"))
        );
        // Same input schema: the same output schema allocation.
        let again = t.apply(r).unwrap().unwrap();
        assert!(Arc::ptr_eq(&s, again.value_schema.as_ref().unwrap()));
    }

    #[test]
    fn tombstones_pass_unchanged() {
        let mut t = all_fields();
        let r = record(
            "t",
            Some(SchemaBuilder::struct_().optional().build()),
            Value::Null,
        );
        assert_eq!(t.apply(r.clone()).unwrap(), Some(r));
        let r = record("t", None, Value::Null);
        assert_eq!(t.apply(r.clone()).unwrap(), Some(r));
    }

    #[test]
    fn key_variant_inserts_into_the_key() {
        let mut t = configured(Side::Key, &[("topic.field", "t")]);
        let r = record("orders", None, Value::from("v")).with_key(None, map(vec![]));
        let out = t.apply(r).unwrap().unwrap();
        assert_eq!(out.key, map(vec![("t", Value::from("orders"))]));
        assert_eq!(out.value, Value::from("v"));
    }

    #[test]
    fn replace_null_with_default_fills_defaults_unless_disabled() {
        let schema = SchemaBuilder::struct_()
            .field(
                "n",
                SchemaBuilder::int32()
                    .optional()
                    .default_value(Value::Int32(9))
                    .build(),
            )
            .build();
        let v = Value::Struct(Struct::new(schema.clone()));
        let mut t = configured(Side::Value, &[("topic.field", "t")]);
        let out = t
            .apply(record("x", Some(schema.clone()), v.clone()))
            .unwrap()
            .unwrap();
        assert_eq!(out.value.as_struct().unwrap().values()[0], Value::Int32(9));
        let mut t = configured(
            Side::Value,
            &[("topic.field", "t"), ("replace.null.with.default", "false")],
        );
        let out = t.apply(record("x", Some(schema), v)).unwrap().unwrap();
        assert_eq!(out.value.as_struct().unwrap().values()[0], Value::Null);
    }

    #[test]
    fn bad_data_names_the_problem() {
        let mut t = all_fields();
        // Schemaless, but not a map.
        let err = t.apply(record("t", None, Value::Int32(1))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `value`: expected MAP (schemaless record), got INT32"
        );
        // Required topic is fine, but a required partition with none set fails.
        let mut t = configured(Side::Value, &[("partition.field", "p!")]);
        let schema = SchemaBuilder::struct_().field("a", Schema::int32()).build();
        let v = Struct::new(schema.clone()).with("a", 1).unwrap();
        let err = t
            .apply(record("t", Some(schema), Value::Struct(v)))
            .unwrap_err();
        assert!(err.to_string().contains("value.p"), "{err}");
        // A field name that already exists.
        let mut t = configured(Side::Value, &[("static.field", "a"), ("static.value", "x")]);
        let schema = SchemaBuilder::struct_().field("a", Schema::int32()).build();
        let v = Struct::new(schema.clone()).with("a", 1).unwrap();
        let err = t
            .apply(record("t", Some(schema), Value::Struct(v)))
            .unwrap_err();
        assert_eq!(err.to_string(), "duplicate field `a` in STRUCT");
    }

    #[test]
    fn bad_config_is_reported() {
        let mut t = InsertField::new(Side::Value);
        let issues = t
            .configure(&props(&[
                ("offset.field", "o"),
                ("replace.null.with.default", "x"),
            ]))
            .unwrap_err();
        assert_eq!(
            issue_texts(&issues),
            ["replace.null.with.default: expected BOOLEAN, got `x`"]
        );
        let issues = t.configure(&props(&[("offset.field", "o")])).unwrap_err();
        assert_eq!(issues[0].key, "offset.field");
    }
}
