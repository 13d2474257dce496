//! `Cast`: casts fields, or the whole key or value, to another primitive
//! type.

use std::sync::Arc;

use crate::config::{
    ConfigDef, ConfigIssue, ConfigKey, ConfigType, Importance, Properties, Validator,
};
use crate::data::{
    Decimal, LogicalType, Schema, SchemaRef, SchemaType, SourceRecord, Struct, Value,
};

use super::simple_date_format::SimpleDateFormat;
use super::util::{self, SchemaCache, Side};
use super::{TransformError, Transformation};

/// Kafka's `Cast$Key` / `Cast$Value`. `spec` is `field:type,…` to cast
/// fields of a STRUCT or MAP, or a single `type` to cast the whole key or
/// value; types are `int8`, `int16`, `int32`, `int64`, `float32`,
/// `float64`, `boolean` and `string`. Numbers narrow as Java's casts do
/// (wrapping, floats truncated toward zero); strings parse as Java's
/// `parseXxx` (out of range is an error), a string is `true` only if it
/// reads `true` in any case; BYTES cast to a Base64 string, Decimal to
/// any number or its text, Date/Time/Timestamp to ISO text. A null stays
/// null; tombstones pass.
#[derive(Debug)]
pub struct Cast {
    side: Side,
    /// Field casts, in spec order.
    casts: Vec<(String, SchemaType)>,
    whole: Option<SchemaType>,
    replace_null_with_default: bool,
    /// Per input schema: output schema and the cast target of each field.
    cache: SchemaCache<Arc<(SchemaRef, Vec<Option<SchemaType>>)>>,
}

fn parse_type(text: &str) -> Option<SchemaType> {
    Some(match text.trim().to_ascii_lowercase().as_str() {
        "int8" => SchemaType::Int8,
        "int16" => SchemaType::Int16,
        "int32" => SchemaType::Int32,
        "int64" => SchemaType::Int64,
        "float32" => SchemaType::Float32,
        "float64" => SchemaType::Float64,
        "boolean" => SchemaType::Boolean,
        "string" => SchemaType::String,
        _ => return None,
    })
}

fn type_schema(t: SchemaType, optional: bool) -> Schema {
    let mut s = Schema::of(t);
    s.optional = optional;
    s
}

impl Cast {
    /// An unconfigured transform for `side`.
    pub fn new(side: Side) -> Self {
        Cast {
            side,
            casts: Vec::new(),
            whole: None,
            replace_null_with_default: true,
            cache: SchemaCache::default(),
        }
    }

    fn target_of(&self, name: &str) -> Option<SchemaType> {
        self.casts.iter().find(|(f, _)| f == name).map(|(_, t)| *t)
    }
}

/// Casts `value` (of `schema`, if known) to `target`; `path` names it.
fn cast_value(
    value: Value,
    schema: Option<&Schema>,
    target: SchemaType,
    path: &str,
) -> Result<Value, TransformError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let unsupported = |what: &str| {
        TransformError::Invalid(format!(
            "field `{path}`: Cast cannot cast {what} to {target}"
        ))
    };
    match util::logical_of(schema) {
        Some(LogicalType::Decimal) => {
            let d = Decimal::from_value(&value, schema.unwrap_or(&Schema::of(SchemaType::Bytes)))?;
            return cast_decimal(d, target).ok_or_else(|| unsupported("a Decimal"));
        }
        Some(lt) => {
            let ms = match (&value, lt) {
                (Value::Int32(d), LogicalType::Date) => i64::from(*d) * 86_400_000,
                (v, _) => v
                    .as_i64()
                    .ok_or_else(|| util::mismatch(path, lt.short_name(), v))?,
            };
            if target != SchemaType::String {
                return Err(unsupported(&format!("a {}", lt.short_name())));
            }
            let pattern = match lt {
                LogicalType::Date => "yyyy-MM-dd",
                LogicalType::Time => "HH:mm:ss.SSS",
                _ => "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'",
            };
            let f = SimpleDateFormat::new(pattern).map_err(TransformError::Invalid)?;
            return Ok(Value::String(f.format(ms)));
        }
        None => {}
    }
    let out_of_range = |text: &str| {
        TransformError::Invalid(format!(
            "field `{path}`: value ({text}) was out of range for requested data type {target}"
        ))
    };
    Ok(match value {
        Value::String(s) => match target {
            SchemaType::Int8 => Value::Int8(s.parse().map_err(|_| out_of_range(&s))?),
            SchemaType::Int16 => Value::Int16(s.parse().map_err(|_| out_of_range(&s))?),
            SchemaType::Int32 => Value::Int32(s.parse().map_err(|_| out_of_range(&s))?),
            SchemaType::Int64 => Value::Int64(s.parse().map_err(|_| out_of_range(&s))?),
            SchemaType::Float32 => {
                Value::Float32(java_parse_float(&s).ok_or_else(|| out_of_range(&s))? as f32)
            }
            SchemaType::Float64 => {
                Value::Float64(java_parse_float(&s).ok_or_else(|| out_of_range(&s))?)
            }
            SchemaType::Boolean => Value::Boolean(s.eq_ignore_ascii_case("true")),
            _ => Value::String(s),
        },
        Value::Boolean(b) => match target {
            SchemaType::String => Value::String(b.to_string()),
            SchemaType::Boolean => Value::Boolean(b),
            t => from_i64(i64::from(b), t),
        },
        Value::Bytes(b) if target == SchemaType::String => Value::String(util::base64(&b)),
        Value::Float32(f) => from_f64(f64::from(f), target, true),
        Value::Float64(f) => from_f64(f, target, false),
        v => match v.as_i64() {
            Some(i) => from_i64(i, target),
            None => return Err(unsupported(&format!("a value of type {}", v.type_name()))),
        },
    })
}

/// Java's `Float.parseFloat` / `Double.parseDouble` for common inputs.
fn java_parse_float(s: &str) -> Option<f64> {
    let t = s.trim();
    let t = t.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(t);
    match t {
        "Infinity" | "+Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ if t
            .chars()
            .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E') =>
        {
            None
        }
        _ => t.parse().ok(),
    }
}

fn from_i64(i: i64, target: SchemaType) -> Value {
    match target {
        SchemaType::Int8 => Value::Int8(i as i8),
        SchemaType::Int16 => Value::Int16(i as i16),
        SchemaType::Int32 => Value::Int32(i as i32),
        SchemaType::Int64 => Value::Int64(i),
        SchemaType::Float32 => Value::Float32(i as f32),
        SchemaType::Float64 => Value::Float64(i as f64),
        SchemaType::Boolean => Value::Boolean(i != 0),
        _ => Value::String(i.to_string()),
    }
}

fn from_f64(f: f64, target: SchemaType, single: bool) -> Value {
    match target {
        // Java: (byte)(int) d, (short)(int) d; `as` saturates like Java.
        SchemaType::Int8 => Value::Int8(f as i32 as i8),
        SchemaType::Int16 => Value::Int16(f as i32 as i16),
        SchemaType::Int32 => Value::Int32(f as i32),
        SchemaType::Int64 => Value::Int64(f as i64),
        SchemaType::Float32 => Value::Float32(f as f32),
        SchemaType::Float64 => Value::Float64(f),
        SchemaType::Boolean => Value::Boolean(f as i64 != 0),
        _ => Value::String(util::java_float(f, single)),
    }
}

fn cast_decimal(d: Decimal, target: SchemaType) -> Option<Value> {
    let pow = 10i128.checked_pow(d.scale.unsigned_abs())?;
    let truncated = if d.scale >= 0 {
        d.unscaled / pow
    } else {
        d.unscaled.checked_mul(pow)?
    };
    let as_f64 = || d.to_string().parse::<f64>().ok();
    Some(match target {
        SchemaType::Int8
        | SchemaType::Int16
        | SchemaType::Int32
        | SchemaType::Int64
        | SchemaType::Boolean => from_i64(truncated as i64, target),
        SchemaType::Float32 => Value::Float32(as_f64()? as f32),
        SchemaType::Float64 => Value::Float64(as_f64()?),
        _ => Value::String(d.to_string()),
    })
}

impl Transformation for Cast {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(
                ConfigKey::new(
                    "spec",
                    ConfigType::List,
                    Importance::High,
                    "List of fields and the type to cast them to of the form field1:type,field2:type, or a \
                     single type to cast the entire value. Types: int8, int16, int32, int64, float32, \
                     float64, boolean, string.",
                )
                .validator(Validator::NonEmptyString),
            )
            .define(util::replace_null_key())
            .define(super::field_path::v1_only_key())
    }

    fn configure(&mut self, configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
        let parsed = self.config_def().parse(configs)?;
        let spec = util::list_of(&parsed, "spec");
        let mut issues = Vec::new();
        self.casts.clear();
        self.whole = None;
        let bad_type = |t: &str| {
            ConfigIssue::new(
                "spec",
                format!("invalid type `{t}`: expected int8, int16, int32, int64, float32, float64, boolean or string"),
            )
        };
        for item in &spec {
            match item.split(':').collect::<Vec<_>>()[..] {
                [t] => match parse_type(t) {
                    Some(t) => self.whole = Some(t),
                    None => issues.push(bad_type(t)),
                },
                [f, t] => match parse_type(t) {
                    Some(ty) => self.casts.push((f.trim().to_owned(), ty)),
                    None => issues.push(bad_type(t)),
                },
                _ => issues.push(ConfigIssue::new(
                    "spec",
                    format!("invalid cast mapping `{item}`"),
                )),
            }
        }
        if self.whole.is_some() && spec.len() > 1 {
            issues.push(ConfigIssue::new(
                "spec",
                "a cast of the entire value may be the only item of the spec",
            ));
        }
        self.replace_null_with_default = util::replace_null(&parsed);
        self.cache = SchemaCache::default();
        util::issues_or(issues, ())
    }

    fn apply(&mut self, mut record: SourceRecord) -> Result<Option<SourceRecord>, TransformError> {
        let (schema, value) = self.side.take(&mut record);
        let label = self.side.label();
        let Some(schema) = schema else {
            let out = match self.whole {
                Some(t) => match value {
                    Value::Array(_) | Value::Map(_) | Value::Struct(_) => {
                        return Err(util::mismatch(label, "a primitive value", &value))
                    }
                    v => cast_value(v, None, t, label)?,
                },
                None if value.is_null() => Value::Null,
                None => {
                    let mut map = util::require_map(value, label)?;
                    for (field, t) in &self.casts {
                        match util::map_position(&map, field) {
                            Some(i) => {
                                let v = std::mem::replace(&mut map[i].1, Value::Null);
                                map[i].1 = cast_value(v, None, *t, &util::path(label, field))?;
                            }
                            None => util::map_put(&mut map, field, Value::Null),
                        }
                    }
                    Value::Map(map)
                }
            };
            self.side.put(&mut record, None, out);
            return Ok(Some(record));
        };
        let mut cache = std::mem::take(&mut self.cache);
        let plan = cache.get_or_build(&schema, |s| {
            let cast_default =
                |fs: &Schema, t: SchemaType, at: &str| -> Result<Option<Value>, TransformError> {
                    fs.default
                        .clone()
                        .map(|d| cast_value(d, Some(fs), t, at))
                        .transpose()
                };
            let check_input = |fs: &Schema, at: &str| {
                if fs.schema_type.is_primitive() {
                    Ok(())
                } else {
                    Err(TransformError::Invalid(format!(
                        "field `{at}`: Cast cannot cast a {} schema",
                        fs.schema_type
                    )))
                }
            };
            if let Some(t) = self.whole {
                check_input(s, label)?;
                let mut out = type_schema(t, s.optional);
                if LogicalType::of(s).is_none() {
                    out = util::copy_basics(s, out);
                }
                out.default = cast_default(s, t, label)?;
                return Ok(Arc::new((Arc::new(out), Vec::new())));
            }
            if s.schema_type != SchemaType::Struct {
                return Err(util::mismatch_type(label, "STRUCT", s.schema_type));
            }
            let mut targets = Vec::with_capacity(s.fields.len());
            let mut fields = Vec::with_capacity(s.fields.len());
            for f in &s.fields {
                let target = self.target_of(&f.name);
                targets.push(target);
                let fs = match target {
                    None => f.schema.clone(),
                    Some(t) => {
                        let at = util::path(label, &f.name);
                        check_input(&f.schema, &at)?;
                        let mut out = type_schema(t, f.schema.optional);
                        out.default = cast_default(&f.schema, t, &at)?;
                        Arc::new(out)
                    }
                };
                fields.push((f.name.clone(), fs));
            }
            let mut out = util::struct_like(s, fields);
            out.default = None;
            Ok(Arc::new((Arc::new(out), targets)))
        });
        self.cache = cache;
        let plan = plan?;
        let out = if let Some(t) = self.whole {
            cast_value(value, Some(&schema), t, label)?
        } else if value.is_null() {
            Value::Null
        } else {
            let (_, values) = util::require_struct(value, label)?.into_parts();
            let mut out = Vec::with_capacity(values.len());
            for ((raw, f), target) in values.into_iter().zip(&schema.fields).zip(&plan.1) {
                let v = util::read_field(raw, f, self.replace_null_with_default);
                out.push(match target {
                    Some(t) => cast_value(v, Some(&f.schema), *t, &util::path(label, &f.name))?,
                    None => v,
                });
            }
            Value::Struct(Struct::from_parts(plan.0.clone(), out)?)
        };
        self.side.put(&mut record, Some(plan.0.clone()), out);
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{logical, SchemaBuilder};
    use crate::transforms::test_util::{issue_texts, map, props, record};

    fn configured(side: Side, spec: &str) -> Cast {
        let mut t = Cast::new(side);
        t.configure(&props(&[("spec", spec)])).unwrap();
        t
    }

    /// Kafka's documented example: `spec=int8` casts a whole key; field
    /// casts like `age:int16,height:float32` on a struct.
    #[test]
    fn whole_key_cast_with_schema() {
        let mut t = configured(Side::Key, "int8");
        let r = record("t", None, Value::Null).with_key(Some(Schema::int32()), Value::Int32(42));
        let out = t.apply(r).unwrap().unwrap();
        assert_eq!(out.key, Value::Int8(42));
        assert_eq!(out.key_schema, Some(Arc::new(Schema::of(SchemaType::Int8))));
    }

    #[test]
    fn schemaful_field_casts() {
        let mut t = configured(
            Side::Value,
            "int8:int16,int32:boolean,float:string,str:int32,keep:string,dec:float64",
        );
        let s = SchemaBuilder::struct_()
            .name("row")
            .field("int8", Schema::int8())
            .field("int32", Schema::optional_int32())
            .field("float", Schema::float32())
            .field("str", Schema::string())
            .field("keep", Schema::optional_string())
            .field("dec", logical::decimal_schema(2))
            .field("other", Schema::int64())
            .build();
        let v = Struct::new(s.clone())
            .with("int8", 8i8)
            .unwrap()
            .with("int32", 2)
            .unwrap()
            .with("float", 1.5f32)
            .unwrap()
            .with("str", "-7")
            .unwrap()
            .with("dec", Decimal::new(1234, 2).to_value())
            .unwrap()
            .with("other", 9i64)
            .unwrap();
        let out = t
            .apply(record("t", Some(s), Value::Struct(v)))
            .unwrap()
            .unwrap();
        out.validate().unwrap();
        let os = out.value_schema.clone().unwrap();
        assert_eq!(os.name.as_deref(), Some("row"));
        assert_eq!(
            os.field("int32").unwrap().schema.schema_type,
            SchemaType::Boolean
        );
        assert!(os.field("int32").unwrap().schema.optional);
        let ov = out.value.as_struct().unwrap();
        assert_eq!(ov.get("int8"), Some(&Value::Int16(8)));
        assert_eq!(ov.get("int32"), Some(&Value::Boolean(true)));
        assert_eq!(ov.get("float"), Some(&Value::from("1.5")));
        assert_eq!(ov.get("str"), Some(&Value::Int32(-7)));
        assert_eq!(ov.get("keep"), Some(&Value::Null));
        assert_eq!(ov.get("dec"), Some(&Value::Float64(12.34)));
        assert_eq!(ov.get("other"), Some(&Value::Int64(9)));
    }

    #[test]
    fn schemaless_casts_like_java() {
        let mut t = configured(
            Side::Value,
            "big:int8,f:int32,s:boolean,b:string,bytes:string,missing:int8",
        );
        let v = map(vec![
            ("big", Value::Int64(300)),
            ("f", Value::Float64(-2.9)),
            ("s", Value::from("TRUE")),
            ("b", Value::Boolean(false)),
            ("bytes", Value::Bytes(b"foo".to_vec())),
        ]);
        let out = t.apply(record("t", None, v)).unwrap().unwrap();
        assert_eq!(
            out.value,
            map(vec![
                ("big", Value::Int8(44)),
                ("f", Value::Int32(-2)),
                ("s", Value::Boolean(true)),
                ("b", Value::from("false")),
                ("bytes", Value::from("Zm9v")),
                ("missing", Value::Null),
            ])
        );
        let mut whole = configured(Side::Value, "float64");
        let out = whole
            .apply(record("t", None, Value::from("1e3")))
            .unwrap()
            .unwrap();
        assert_eq!(out.value, Value::Float64(1000.0));
    }

    #[test]
    fn timestamp_casts_to_iso_string() {
        let mut t = configured(Side::Value, "string");
        let out = t
            .apply(record(
                "t",
                Some(logical::timestamp_schema()),
                Value::Int64(1_485_090_448_789),
            ))
            .unwrap()
            .unwrap();
        assert_eq!(out.value, Value::from("2017-01-22T13:07:28.789Z"));
        assert_eq!(out.value_schema.unwrap().name, None);
    }

    #[test]
    fn bad_data_unparsable_string_and_unsupported_types() {
        let mut t = configured(Side::Value, "a:int8");
        let err = t
            .apply(record("t", None, map(vec![("a", Value::from("300"))])))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `value.a`: value (300) was out of range for requested data type INT8"
        );
        let err = t
            .apply(record("t", None, map(vec![("a", Value::Array(vec![]))])))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `value.a`: Cast cannot cast a value of type ARRAY to INT8"
        );
        let s = SchemaBuilder::struct_()
            .field("a", SchemaBuilder::array(Schema::int8()).build())
            .build();
        let v = Struct::new(s.clone())
            .with("a", Vec::<Value>::new())
            .unwrap();
        assert!(t.apply(record("t", Some(s), Value::Struct(v))).is_err());
    }

    #[test]
    fn bad_config_types_and_mixed_whole_cast() {
        let mut t = Cast::new(Side::Value);
        let issues = t
            .configure(&props(&[("spec", "a:int9,int8,b:c:d")]))
            .unwrap_err();
        assert_eq!(
            issue_texts(&issues),
            [
                "spec: invalid type `int9`: expected int8, int16, int32, int64, float32, float64, boolean or string",
                "spec: invalid cast mapping `b:c:d`",
                "spec: a cast of the entire value may be the only item of the spec",
            ]
        );
    }
}
