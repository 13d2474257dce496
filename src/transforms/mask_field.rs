//! `MaskField`: replaces the listed fields' values with their type's
//! "empty" value (0, false, "", empty array or map) or a `replacement`.

use std::sync::Arc;

use crate::config::{
    ConfigDef, ConfigIssue, ConfigKey, ConfigType, Importance, Properties, Validator,
};
use crate::data::{logical, Decimal, LogicalType, Schema, SchemaType, SourceRecord, Value};

use super::util::{self, SchemaCache, Side};
use super::{TransformError, Transformation};

/// Per input schema: each masked field's index and masked value (or why
/// it cannot be masked).
type Masks = Arc<Vec<(usize, Result<Value, TransformError>)>>;

/// Kafka's `MaskField$Key` / `MaskField$Value`. Without `replacement` a
/// masked value becomes `false`, `0`, `0.0`, `""`, Decimal zero, the epoch
/// (Date, Time, Timestamp), an empty array or an empty map; BYTES and
/// STRUCT values cannot be masked. With `replacement`, numbers and
/// strings (and Decimals) become the replacement parsed as their type;
/// other types fail. Null values stay null; tombstones pass unchanged.
#[derive(Debug)]
pub struct MaskField {
    side: Side,
    fields: Vec<String>,
    replacement: Option<String>,
    /// Per input schema: (field index, masked value or why it cannot be).
    cache: SchemaCache<Masks>,
}

impl MaskField {
    /// An unconfigured transform for `side`.
    pub fn new(side: Side) -> Self {
        MaskField {
            side,
            fields: Vec::new(),
            replacement: None,
            cache: SchemaCache::default(),
        }
    }
}

fn cannot(path: &str, what: &str, replacement: Option<&str>) -> TransformError {
    TransformError::Invalid(match replacement {
        None => format!("field `{path}`: cannot mask a value of type {what}"),
        Some(_) => {
            format!("field `{path}`: cannot mask a value of type {what} with a custom replacement")
        }
    })
}

fn unparsable(path: &str, replacement: &str, what: &str) -> TransformError {
    TransformError::Invalid(format!(
        "field `{path}`: unable to convert replacement `{replacement}` to {what}"
    ))
}

/// The masked value for a field of `schema`.
fn masked_for_schema(
    schema: &Schema,
    replacement: Option<&str>,
    path: &str,
) -> Result<Value, TransformError> {
    match (LogicalType::of(schema), schema.schema_type) {
        (Some(LogicalType::Decimal), SchemaType::Bytes) => {
            let scale = logical::decimal_scale(schema)?;
            let d = match replacement {
                None => Decimal::new(0, scale),
                Some(r) => rescale(
                    r.parse::<Decimal>()
                        .map_err(|_| unparsable(path, r, "Decimal"))?,
                    scale,
                )
                .ok_or_else(|| unparsable(path, r, &format!("Decimal of scale {scale}")))?,
            };
            Ok(d.to_value())
        }
        (Some(lt @ (LogicalType::Date | LogicalType::Time | LogicalType::Timestamp)), _) => {
            match replacement {
                None if lt == LogicalType::Timestamp => Ok(Value::Int64(0)),
                None => Ok(Value::Int32(0)),
                Some(r) => Err(cannot(path, lt.short_name(), Some(r))),
            }
        }
        (_, t) => masked_of_type(t, replacement, path),
    }
}

/// The masked value for a plain value of type `t`.
fn masked_of_type(
    t: SchemaType,
    replacement: Option<&str>,
    path: &str,
) -> Result<Value, TransformError> {
    let Some(r) = replacement else {
        return match t {
            SchemaType::Boolean => Ok(Value::Boolean(false)),
            SchemaType::Int8 => Ok(Value::Int8(0)),
            SchemaType::Int16 => Ok(Value::Int16(0)),
            SchemaType::Int32 => Ok(Value::Int32(0)),
            SchemaType::Int64 => Ok(Value::Int64(0)),
            SchemaType::Float32 => Ok(Value::Float32(0.0)),
            SchemaType::Float64 => Ok(Value::Float64(0.0)),
            SchemaType::String => Ok(Value::String(String::new())),
            SchemaType::Array => Ok(Value::Array(Vec::new())),
            SchemaType::Map => Ok(Value::Map(Vec::new())),
            SchemaType::Bytes | SchemaType::Struct => Err(cannot(path, t.name(), None)),
        };
    };
    let bad = || unparsable(path, r, t.name());
    match t {
        SchemaType::Int8 => r.parse().map(Value::Int8).map_err(|_| bad()),
        SchemaType::Int16 => r.parse().map(Value::Int16).map_err(|_| bad()),
        SchemaType::Int32 => r.parse().map(Value::Int32).map_err(|_| bad()),
        SchemaType::Int64 => r.parse().map(Value::Int64).map_err(|_| bad()),
        SchemaType::Float32 => r.trim().parse().map(Value::Float32).map_err(|_| bad()),
        SchemaType::Float64 => r.trim().parse().map(Value::Float64).map_err(|_| bad()),
        SchemaType::String => Ok(Value::String(r.to_owned())),
        _ => Err(cannot(path, t.name(), Some(r))),
    }
}

/// `d` at `scale`, if no digits are lost.
fn rescale(d: Decimal, scale: i32) -> Option<Decimal> {
    if d.scale == scale {
        return Some(d);
    }
    let diff = scale - d.scale;
    if diff > 0 {
        let f = 10i128.checked_pow(u32::try_from(diff).ok()?)?;
        Some(Decimal::new(d.unscaled.checked_mul(f)?, scale))
    } else {
        let f = 10i128.checked_pow(u32::try_from(-diff).ok()?)?;
        (d.unscaled % f == 0).then(|| Decimal::new(d.unscaled / f, scale))
    }
}

impl Transformation for MaskField {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(
                ConfigKey::new("fields", ConfigType::List, Importance::High, "Names of fields to mask.")
                    .validator(Validator::NonEmptyString),
            )
            .define(
                ConfigKey::new(
                    "replacement",
                    ConfigType::String,
                    Importance::Low,
                    "Custom value replacement, applied to all fields (numeric and string fields only).",
                )
                .optional()
                .validator(Validator::NonEmptyString),
            )
            .define(super::field_path::v1_only_key())
    }

    fn configure(&mut self, configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
        let parsed = self.config_def().parse(configs)?;
        self.fields = util::list_of(&parsed, "fields");
        self.replacement = parsed.string("replacement").map(str::to_owned);
        self.cache = SchemaCache::default();
        Ok(())
    }

    fn apply(&mut self, mut record: SourceRecord) -> Result<Option<SourceRecord>, TransformError> {
        if self.side.value(&record).is_null() {
            return Ok(Some(record));
        }
        let (schema, value) = self.side.take(&mut record);
        let side = self.side.label();
        let replacement = self.replacement.as_deref();
        match schema {
            None => {
                let mut map = util::require_map(value, side)?;
                for name in &self.fields {
                    match util::map_position(&map, name) {
                        Some(i) => {
                            let v = &map[i].1;
                            if !v.is_null() {
                                let path = util::path(side, name);
                                let t = v.schema_type().unwrap_or(SchemaType::String);
                                map[i].1 = masked_of_type(t, replacement, &path)?;
                            }
                        }
                        // Kafka's map gets the (null) entry.
                        None => util::map_put(&mut map, name, Value::Null),
                    }
                }
                self.side.put(&mut record, None, Value::Map(map));
            }
            Some(schema) => {
                let fields = &self.fields;
                let masks = self.cache.get_or_build(&schema, |s: &Schema| {
                    if s.schema_type != SchemaType::Struct {
                        return Err(util::mismatch_type(side, "STRUCT", s.schema_type));
                    }
                    Ok(Arc::new(
                        s.fields
                            .iter()
                            .filter(|f| fields.contains(&f.name))
                            .map(|f| {
                                let path = util::path(side, &f.name);
                                (f.index, masked_for_schema(&f.schema, replacement, &path))
                            })
                            .collect(),
                    ))
                })?;
                let mut s = util::require_struct(value, side)?;
                let values = s.values_mut();
                for (i, masked) in masks.iter() {
                    // A null with a default reads as the default, which is masked.
                    let present =
                        !values[*i].is_null() || schema.fields[*i].schema.default.is_some();
                    if present {
                        values[*i] = masked.clone()?;
                    }
                }
                self.side.put(&mut record, Some(schema), Value::Struct(s));
            }
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{SchemaBuilder, SchemaRef, Struct};
    use crate::transforms::test_util::{issue_texts, map, props, record};

    fn configured(pairs: &[(&str, &str)]) -> MaskField {
        let mut t = MaskField::new(Side::Value);
        t.configure(&props(pairs)).unwrap();
        t
    }

    fn schema() -> SchemaRef {
        SchemaBuilder::struct_()
            .field("magic", Schema::int32())
            .field("bool", Schema::boolean())
            .field("byte", Schema::int8())
            .field("long", Schema::int64())
            .field("double", Schema::float64())
            .field("string", Schema::string())
            .field("date", logical::date_schema())
            .field("decimal", logical::decimal_schema(0))
            .field("array", SchemaBuilder::array(Schema::int32()).build())
            .field(
                "map",
                SchemaBuilder::map(Schema::string(), Schema::string()).build(),
            )
            .field("opt", Schema::optional_string())
            .build()
    }

    fn struct_value(s: &SchemaRef) -> Value {
        Value::Struct(
            Struct::new(s.clone())
                .with("magic", 42)
                .unwrap()
                .with("bool", true)
                .unwrap()
                .with("byte", 42i8)
                .unwrap()
                .with("long", 42i64)
                .unwrap()
                .with("double", 42.0)
                .unwrap()
                .with("string", "55.121.20.20")
                .unwrap()
                .with("date", 19_000)
                .unwrap()
                .with("decimal", Decimal::new(42, 0).to_value())
                .unwrap()
                .with("array", vec![Value::Int32(1), Value::Int32(2)])
                .unwrap()
                .with(
                    "map",
                    Value::Map(vec![(Value::from("a"), Value::from("b"))]),
                )
                .unwrap(),
        )
    }

    #[test]
    fn schemaful_masks_each_type_to_its_empty_value() {
        let mut t = configured(&[(
            "fields",
            "bool,byte,long,double,string,date,decimal,array,map,opt",
        )]);
        let s = schema();
        let out = t
            .apply(record("t", Some(s.clone()), struct_value(&s)))
            .unwrap()
            .unwrap();
        out.validate().unwrap();
        assert!(Arc::ptr_eq(out.value_schema.as_ref().unwrap(), &s));
        let v = out.value.as_struct().unwrap();
        assert_eq!(v.get("magic"), Some(&Value::Int32(42)));
        assert_eq!(v.get("bool"), Some(&Value::Boolean(false)));
        assert_eq!(v.get("byte"), Some(&Value::Int8(0)));
        assert_eq!(v.get("long"), Some(&Value::Int64(0)));
        assert_eq!(v.get("double"), Some(&Value::Float64(0.0)));
        assert_eq!(v.get("string"), Some(&Value::from("")));
        assert_eq!(v.get("date"), Some(&Value::Int32(0)));
        assert_eq!(v.get("decimal"), Some(&Value::Bytes(vec![0])));
        assert_eq!(v.get("array"), Some(&Value::Array(vec![])));
        assert_eq!(v.get("map"), Some(&Value::Map(vec![])));
        assert_eq!(v.get("opt"), Some(&Value::Null));
    }

    #[test]
    fn schemaless_masks_by_value_type() {
        let mut t = configured(&[("fields", "magic,s,arr,missing")]);
        let v = map(vec![
            ("magic", Value::Int32(42)),
            ("s", Value::from("secret")),
            ("arr", Value::Array(vec![Value::Int32(1)])),
            ("keep", Value::from("x")),
        ]);
        let out = t.apply(record("t", None, v)).unwrap().unwrap();
        assert_eq!(
            out.value,
            map(vec![
                ("magic", Value::Int32(0)),
                ("s", Value::from("")),
                ("arr", Value::Array(vec![])),
                ("keep", Value::from("x")),
                ("missing", Value::Null),
            ])
        );
    }

    #[test]
    fn replacement_is_parsed_as_the_field_type() {
        let mut t = configured(&[
            ("fields", "magic,string,decimal,double"),
            ("replacement", "123"),
        ]);
        let s = schema();
        let out = t
            .apply(record("t", Some(s.clone()), struct_value(&s)))
            .unwrap()
            .unwrap();
        let v = out.value.as_struct().unwrap();
        assert_eq!(v.get("magic"), Some(&Value::Int32(123)));
        assert_eq!(v.get("string"), Some(&Value::from("123")));
        assert_eq!(v.get("decimal"), Some(&Decimal::new(123, 0).to_value()));
        assert_eq!(v.get("double"), Some(&Value::Float64(123.0)));
        let mut t = configured(&[("fields", "s"), ("replacement", "***")]);
        let out = t
            .apply(record("t", None, map(vec![("s", Value::from("secret"))])))
            .unwrap()
            .unwrap();
        assert_eq!(out.value, map(vec![("s", Value::from("***"))]));
    }

    #[test]
    fn bad_data_unmaskable_types_and_unparsable_replacement() {
        let mut t = configured(&[("fields", "bool"), ("replacement", "x")]);
        let s = schema();
        let err = t
            .apply(record("t", Some(s.clone()), struct_value(&s)))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `value.bool`: cannot mask a value of type BOOLEAN with a custom replacement"
        );
        let mut t = configured(&[("fields", "magic"), ("replacement", "abc")]);
        let err = t
            .apply(record("t", Some(s.clone()), struct_value(&s)))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `value.magic`: unable to convert replacement `abc` to INT32"
        );
        let mut t = configured(&[("fields", "b")]);
        let err = t
            .apply(record("t", None, map(vec![("b", Value::Bytes(vec![1]))])))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `value.b`: cannot mask a value of type BYTES"
        );
    }

    #[test]
    fn bad_config_needs_fields_and_non_empty_replacement() {
        let mut t = MaskField::new(Side::Value);
        let issues = t.configure(&props(&[("replacement", "")])).unwrap_err();
        assert_eq!(
            issue_texts(&issues),
            [
                "fields: missing required configuration, which has no default value",
                "replacement: must not be empty",
            ]
        );
    }

    #[test]
    fn tombstone_passes_unchanged() {
        let mut t = configured(&[("fields", "a")]);
        let r = record("t", None, Value::Null);
        assert_eq!(t.apply(r.clone()).unwrap(), Some(r));
    }
}
