//! `ReplaceField`: keeps (`include`), drops (`exclude`) and renames
//! (`renames`) fields of a STRUCT or MAP.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{ConfigDef, ConfigIssue, ConfigKey, ConfigType, Importance, Properties};
use crate::data::{SchemaRef, SchemaType, SourceRecord, Struct, Value};

use super::util::{self, SchemaCache, Side};
use super::{TransformError, Transformation};

/// For one input schema: the output schema and, per output field, the
/// input field it comes from.
#[derive(Debug)]
struct Plan {
    schema: SchemaRef,
    sources: Vec<usize>,
    /// Output keeps every input field in place (renames only).
    identity: bool,
}

/// Kafka's `ReplaceField$Key` / `ReplaceField$Value`: a field is kept if
/// it is not in `exclude` and `include` is empty or lists it; kept fields
/// listed in `renames` (`old:new,…`) are renamed. The deprecated
/// `blacklist` / `whitelist` keys are read where `exclude` / `include`
/// are not set. Tombstones pass unchanged.
#[derive(Debug)]
pub struct ReplaceField {
    side: Side,
    exclude: Vec<String>,
    include: Vec<String>,
    renames: HashMap<String, String>,
    replace_null_with_default: bool,
    cache: SchemaCache<Arc<Plan>>,
}

impl ReplaceField {
    /// An unconfigured transform for `side`.
    pub fn new(side: Side) -> Self {
        ReplaceField {
            side,
            exclude: Vec::new(),
            include: Vec::new(),
            renames: HashMap::new(),
            replace_null_with_default: true,
            cache: SchemaCache::default(),
        }
    }

    fn keeps(&self, name: &str) -> bool {
        !self.exclude.iter().any(|e| e == name)
            && (self.include.is_empty() || self.include.iter().any(|i| i == name))
    }

    fn renamed<'a>(&'a self, name: &'a str) -> &'a str {
        self.renames.get(name).map_or(name, String::as_str)
    }

    fn plan(&mut self, schema: &SchemaRef) -> Result<Arc<Plan>, TransformError> {
        let path = self.side.label();
        let mut cache = std::mem::take(&mut self.cache);
        let this = &*self;
        let build = |s: &crate::data::Schema| {
            if s.schema_type != SchemaType::Struct {
                return Err(util::mismatch_type(path, "STRUCT", s.schema_type));
            }
            let kept: Vec<&crate::data::Field> =
                s.fields.iter().filter(|f| this.keeps(&f.name)).collect();
            let fields = kept
                .iter()
                .map(|f| (this.renamed(&f.name).to_owned(), f.schema.clone()))
                .collect();
            let out = util::struct_like(s, fields);
            util::check_unique_fields(&out)?;
            let sources: Vec<usize> = kept.iter().map(|f| f.index).collect();
            let identity = sources.len() == s.fields.len();
            Ok(Arc::new(Plan {
                schema: Arc::new(out),
                sources,
                identity,
            }))
        };
        let plan = cache.get_or_build(schema, build);
        self.cache = cache;
        plan
    }
}

fn list_key(name: &str, doc: &str) -> ConfigKey {
    ConfigKey::new(name, ConfigType::List, Importance::Medium, doc).default_value("")
}

impl Transformation for ReplaceField {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(list_key(
                "exclude",
                "Fields to drop. Takes precedence over include.",
            ))
            .define(list_key(
                "include",
                "Fields to keep; empty keeps all fields.",
            ))
            .define(list_key("renames", "Field renames, as old:new,old2:new2."))
            .define(list_key("blacklist", "Deprecated: use exclude.").optional())
            .define(list_key("whitelist", "Deprecated: use include.").optional())
            .define(util::replace_null_key())
            .define(super::field_path::v1_only_key())
    }

    fn configure(&mut self, configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
        let parsed = self.config_def().parse(configs)?;
        let mut issues = Vec::new();
        // The new key wins where both are set, as Kafka translates them.
        let pick = |new: &str, old: &str| {
            if configs.contains_key(new) || !configs.contains_key(old) {
                util::list_of(&parsed, new)
            } else {
                util::list_of(&parsed, old)
            }
        };
        self.exclude = pick("exclude", "blacklist");
        self.include = pick("include", "whitelist");
        self.renames = HashMap::new();
        for mapping in util::list_of(&parsed, "renames") {
            match mapping.split(':').collect::<Vec<_>>()[..] {
                [old, new] if !old.is_empty() && !new.is_empty() => {
                    self.renames.insert(old.to_owned(), new.to_owned());
                }
                _ => issues.push(ConfigIssue::new(
                    "renames",
                    format!("invalid rename mapping `{mapping}`: expected old:new"),
                )),
            }
        }
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
                let map = util::require_map(value, path)?;
                let out: Vec<(Value, Value)> = map
                    .into_iter()
                    .filter_map(|(k, v)| match k {
                        Value::String(name) => self.keeps(&name).then(|| {
                            let new = match self.renames.get(&name) {
                                Some(n) => n.clone(),
                                None => name,
                            };
                            (Value::String(new), v)
                        }),
                        // Kafka's schemaless maps have string keys; others pass.
                        other => Some((other, v)),
                    })
                    .collect();
                self.side.put(&mut record, None, Value::Map(out));
            }
            Some(schema) => {
                let plan = self.plan(&schema)?;
                let (_, mut values) = util::require_struct(value, path)?.into_parts();
                let mut out = if plan.identity {
                    values
                } else {
                    plan.sources
                        .iter()
                        .map(|&i| std::mem::replace(&mut values[i], Value::Null))
                        .collect()
                };
                if self.replace_null_with_default {
                    for (slot, &i) in out.iter_mut().zip(&plan.sources) {
                        if slot.is_null() {
                            if let Some(d) = &schema.fields[i].schema.default {
                                *slot = d.clone();
                            }
                        }
                    }
                }
                let s = Struct::from_parts(plan.schema.clone(), std::mem::take(&mut out))?;
                self.side
                    .put(&mut record, Some(plan.schema.clone()), Value::Struct(s));
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

    fn configured(pairs: &[(&str, &str)]) -> ReplaceField {
        let mut t = ReplaceField::new(Side::Value);
        t.configure(&props(pairs)).unwrap();
        t
    }

    fn schema() -> SchemaRef {
        SchemaBuilder::struct_()
            .name("row")
            .field("dont", Schema::string())
            .field("abc", Schema::int32())
            .field("foo", Schema::boolean())
            .field("etc", Schema::string())
            .build()
    }

    fn value(schema: &SchemaRef) -> Value {
        Value::Struct(
            Struct::new(schema.clone())
                .with("dont", "whatever")
                .unwrap()
                .with("abc", 42)
                .unwrap()
                .with("foo", true)
                .unwrap()
                .with("etc", "etc")
                .unwrap(),
        )
    }

    fn map_value() -> Value {
        map(vec![
            ("dont", Value::from("whatever")),
            ("abc", Value::Int32(42)),
            ("foo", Value::Boolean(true)),
            ("etc", Value::from("etc")),
        ])
    }

    #[test]
    fn schemaless_exclude_and_rename() {
        let mut t = configured(&[("exclude", "dont"), ("renames", "abc:xyz,foo:bar")]);
        let out = t.apply(record("t", None, map_value())).unwrap().unwrap();
        assert_eq!(
            out.value,
            map(vec![
                ("xyz", Value::Int32(42)),
                ("bar", Value::Boolean(true)),
                ("etc", Value::from("etc")),
            ])
        );
    }

    #[test]
    fn schemaless_include_keeps_only_listed() {
        let mut t = configured(&[("include", "abc,foo")]);
        let out = t.apply(record("t", None, map_value())).unwrap().unwrap();
        assert_eq!(
            out.value,
            map(vec![
                ("abc", Value::Int32(42)),
                ("foo", Value::Boolean(true))
            ])
        );
    }

    #[test]
    fn schemaful_include_and_rename() {
        let mut t = configured(&[("include", "abc,foo"), ("renames", "abc:xyz,foo:bar")]);
        let s = schema();
        let out = t
            .apply(record("t", Some(s.clone()), value(&s)))
            .unwrap()
            .unwrap();
        out.validate().unwrap();
        let os = out.value_schema.clone().unwrap();
        assert_eq!(os.name.as_deref(), Some("row"));
        let names: Vec<&str> = os.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["xyz", "bar"]);
        let v = out.value.as_struct().unwrap();
        assert_eq!(v.get("xyz"), Some(&Value::Int32(42)));
        assert_eq!(v.get("bar"), Some(&Value::Boolean(true)));
    }

    #[test]
    fn deprecated_blacklist_and_whitelist_still_work() {
        let mut t = configured(&[("blacklist", "dont"), ("whitelist", "dont,abc,etc")]);
        let out = t.apply(record("t", None, map_value())).unwrap().unwrap();
        assert_eq!(
            out.value,
            map(vec![("abc", Value::Int32(42)), ("etc", Value::from("etc"))])
        );
        // The new key wins where both are set.
        let mut t = configured(&[("blacklist", "dont"), ("exclude", "etc")]);
        let out = t.apply(record("t", None, map_value())).unwrap().unwrap();
        let Value::Map(m) = &out.value else {
            panic!("not a map: {out:?}")
        };
        assert_eq!(util::map_get(m, "dont"), Some(&Value::from("whatever")));
        assert_eq!(util::map_get(m, "etc"), None);
    }

    #[test]
    fn tombstone_passes_unchanged() {
        let mut t = configured(&[("exclude", "dont")]);
        let r = record("t", Some(schema()), Value::Null);
        assert_eq!(t.apply(r.clone()).unwrap(), Some(r));
    }

    #[test]
    fn bad_config_invalid_rename() {
        let mut t = ReplaceField::new(Side::Value);
        let issues = t.configure(&props(&[("renames", "a:b,c")])).unwrap_err();
        assert_eq!(
            issue_texts(&issues),
            ["renames: invalid rename mapping `c`: expected old:new"]
        );
        let issues = t
            .configure(&props(&[("field.syntax.version", "V2")]))
            .unwrap_err();
        assert_eq!(issues[0].key, "field.syntax.version");
    }

    #[test]
    fn bad_data_rename_onto_existing_field_and_wrong_type() {
        let mut t = configured(&[("renames", "abc:foo")]);
        let s = schema();
        let err = t
            .apply(record("t", Some(s.clone()), value(&s)))
            .unwrap_err();
        assert_eq!(err.to_string(), "duplicate field `foo` in row");
        let err = t.apply(record("t", None, Value::from("x"))).unwrap_err();
        assert!(err.to_string().contains("expected MAP"), "{err}");
    }
}
