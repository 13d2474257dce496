//! `SetSchemaMetadata`: sets the name and/or version of the key or value
//! schema.

use std::sync::Arc;

use crate::config::{ConfigDef, ConfigIssue, ConfigKey, ConfigType, Importance, Properties};
use crate::data::{SchemaRef, SourceRecord, Struct, Value};

use super::util::{SchemaCache, Side};
use super::{TransformError, Transformation};

/// Kafka's `SetSchemaMetadata$Key` / `SetSchemaMetadata$Value`: replaces
/// the schema's name (`schema.name`) and/or version (`schema.version`);
/// a STRUCT value is re-pointed at the new schema. Schemaless records
/// fail, except tombstones, which pass.
#[derive(Debug)]
pub struct SetSchemaMetadata {
    side: Side,
    name: Option<String>,
    version: Option<i32>,
    cache: SchemaCache<SchemaRef>,
}

impl SetSchemaMetadata {
    /// An unconfigured transform for `side`.
    pub fn new(side: Side) -> Self {
        SetSchemaMetadata {
            side,
            name: None,
            version: None,
            cache: SchemaCache::default(),
        }
    }
}

impl Transformation for SetSchemaMetadata {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(
                ConfigKey::new(
                    "schema.name",
                    ConfigType::String,
                    Importance::High,
                    "Schema name to set.",
                )
                .optional(),
            )
            .define(
                ConfigKey::new(
                    "schema.version",
                    ConfigType::Int,
                    Importance::High,
                    "Schema version to set.",
                )
                .optional(),
            )
    }

    fn configure(&mut self, configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
        let parsed = self.config_def().parse(configs)?;
        self.name = parsed.string("schema.name").map(str::to_owned);
        self.version = parsed.int("schema.version");
        self.cache = SchemaCache::default();
        if self.name.is_none() && self.version.is_none() {
            return Err(vec![ConfigIssue::new(
                "schema.name",
                "neither schema.name nor schema.version is set",
            )]);
        }
        Ok(())
    }

    fn apply(&mut self, mut record: SourceRecord) -> Result<Option<SourceRecord>, TransformError> {
        let Some(schema) = self.side.schema(&record).cloned() else {
            if self.side.value(&record).is_null() {
                return Ok(Some(record));
            }
            return Err(TransformError::Invalid(format!(
                "schema required for updating schema metadata: the {} has none",
                self.side.label()
            )));
        };
        let (name, version) = (&self.name, self.version);
        let updated = self.cache.get_or_build(&schema, |s| {
            let mut out = s.clone();
            if let Some(n) = name {
                out.name = Some(n.clone());
            }
            if let Some(v) = version {
                out.version = Some(v);
            }
            Ok(Arc::new(out))
        })?;
        let (_, value) = self.side.take(&mut record);
        let value = match value {
            Value::Struct(s) => {
                let (_, values) = s.into_parts();
                Value::Struct(Struct::from_parts(updated.clone(), values)?)
            }
            other => other,
        };
        self.side.put(&mut record, Some(updated), value);
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Schema, SchemaBuilder};
    use crate::transforms::test_util::{issue_texts, props, record};

    #[test]
    fn sets_name_and_version_and_repoints_struct() {
        let mut t = SetSchemaMetadata::new(Side::Value);
        t.configure(&props(&[("schema.name", "foo"), ("schema.version", "42")]))
            .unwrap();
        let s = SchemaBuilder::struct_()
            .name("old")
            .field("a", Schema::int32())
            .build();
        let v = Struct::new(s.clone()).with("a", 1).unwrap();
        let out = t
            .apply(record("t", Some(s), Value::Struct(v)))
            .unwrap()
            .unwrap();
        out.validate().unwrap();
        let os = out.value_schema.clone().unwrap();
        assert_eq!(os.name.as_deref(), Some("foo"));
        assert_eq!(os.version, Some(42));
        assert!(Arc::ptr_eq(out.value.as_struct().unwrap().schema(), &os));
    }

    #[test]
    fn key_variant_sets_version_only() {
        let mut t = SetSchemaMetadata::new(Side::Key);
        t.configure(&props(&[("schema.version", "3")])).unwrap();
        let r = record("t", None, Value::Null).with_key(Some(Schema::string()), Value::from("k"));
        let out = t.apply(r).unwrap().unwrap();
        let ks = out.key_schema.unwrap();
        assert_eq!((ks.name.as_deref(), ks.version), (None, Some(3)));
    }

    #[test]
    fn bad_data_schemaless_fails_but_tombstone_passes() {
        let mut t = SetSchemaMetadata::new(Side::Value);
        t.configure(&props(&[("schema.name", "foo")])).unwrap();
        assert!(t.apply(record("t", None, Value::from("x"))).is_err());
        let r = record("t", None, Value::Null);
        assert_eq!(t.apply(r.clone()).unwrap(), Some(r));
    }

    #[test]
    fn bad_config_needs_name_or_version() {
        let mut t = SetSchemaMetadata::new(Side::Value);
        assert_eq!(
            issue_texts(&t.configure(&Properties::new()).unwrap_err()),
            ["schema.name: neither schema.name nor schema.version is set"]
        );
        assert!(t.configure(&props(&[("schema.version", "x")])).is_err());
    }
}
