//! `TimestampConverter`: converts a timestamp between Unix time, a
//! formatted string and Connect's Date, Time and Timestamp types.

use std::sync::Arc;

use crate::config::{
    ConfigDef, ConfigIssue, ConfigKey, ConfigType, Importance, Properties, Validator,
};
use crate::data::{
    logical, LogicalType, Schema, SchemaRef, SchemaType, SourceRecord, Struct, Value,
};

use super::simple_date_format::SimpleDateFormat;
use super::util::{self, SchemaCache, Side};
use super::{TransformError, Transformation};

const MILLIS_PER_DAY: i64 = 86_400_000;

/// A timestamp representation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A formatted STRING.
    Str,
    /// INT64 Unix time at `unix.precision`.
    Unix,
    /// Connect Date (INT32 days).
    Date,
    /// Connect Time (INT32 milliseconds of the day).
    Time,
    /// Connect Timestamp (INT64 milliseconds).
    Timestamp,
}

impl Kind {
    fn of_schema(schema: &Schema) -> Option<Kind> {
        match (LogicalType::of(schema), schema.schema_type) {
            (Some(LogicalType::Timestamp), _) => Some(Kind::Timestamp),
            (Some(LogicalType::Date), _) => Some(Kind::Date),
            (Some(LogicalType::Time), _) => Some(Kind::Time),
            (None, SchemaType::Int64) => Some(Kind::Unix),
            (None, SchemaType::String) => Some(Kind::Str),
            _ => None,
        }
    }

    fn schema(self, optional: bool) -> SchemaRef {
        match (self, optional) {
            (Kind::Str, false) => Schema::string(),
            (Kind::Str, true) => Schema::optional_string(),
            (Kind::Unix, false) => Schema::int64(),
            (Kind::Unix, true) => Schema::optional_int64(),
            (Kind::Date, false) => logical::date_schema(),
            (Kind::Date, true) => logical::date_builder().optional().build(),
            (Kind::Time, false) => logical::time_schema(),
            (Kind::Time, true) => logical::time_builder().optional().build(),
            (Kind::Timestamp, false) => logical::timestamp_schema(),
            (Kind::Timestamp, true) => logical::timestamp_builder().optional().build(),
        }
    }
}

/// Kafka's `TimestampConverter$Key` / `TimestampConverter$Value`:
/// converts the whole key/value (`field` empty) or one field to
/// `target.type` — `string` (with `format`, a `SimpleDateFormat`
/// pattern, in UTC), `unix` (at `unix.precision`), `Date`, `Time` or
/// `Timestamp`. The input kind comes from the schema (Connect
/// Timestamp/Date/Time, INT64 = Unix, STRING = formatted) or, schemaless,
/// from the value (INT64 = Unix, STRING = formatted).
#[derive(Debug)]
pub struct TimestampConverter {
    side: Side,
    field: String,
    target: Kind,
    format: Option<SimpleDateFormat>,
    precision: &'static str,
    replace_null_with_default: bool,
    /// Per input schema: the output schema and the field's index (when
    /// converting a field) and input kind.
    cache: SchemaCache<Arc<(SchemaRef, Option<usize>, Kind)>>,
}

impl TimestampConverter {
    /// An unconfigured transform for `side`.
    pub fn new(side: Side) -> Self {
        TimestampConverter {
            side,
            field: String::new(),
            target: Kind::Timestamp,
            format: None,
            precision: "milliseconds",
            replace_null_with_default: true,
            cache: SchemaCache::default(),
        }
    }

    fn value_to_millis(
        &self,
        value: &Value,
        kind: Kind,
        path: &str,
    ) -> Result<i64, TransformError> {
        let wrong = |expected: &str| util::mismatch(path, expected, value);
        Ok(match kind {
            Kind::Timestamp => value
                .as_i64()
                .filter(|_| matches!(value, Value::Int64(_)))
                .ok_or_else(|| wrong("INT64 Timestamp"))?,
            Kind::Date => match value {
                Value::Int32(d) => i64::from(*d) * MILLIS_PER_DAY,
                _ => return Err(wrong("INT32 Date")),
            },
            Kind::Time => match value {
                Value::Int32(t) => i64::from(*t),
                _ => return Err(wrong("INT32 Time")),
            },
            Kind::Unix => {
                let Value::Int64(v) = value else {
                    return Err(wrong("INT64 Unix time"));
                };
                match self.precision {
                    "seconds" => v.saturating_mul(1000),
                    "microseconds" => v / 1000,
                    "nanoseconds" => v / 1_000_000,
                    _ => *v,
                }
            }
            Kind::Str => {
                let Value::String(s) = value else {
                    return Err(wrong("STRING"));
                };
                let format = self.format.as_ref().ok_or_else(|| {
                    TransformError::Invalid(format!(
                        "field `{path}`: a string timestamp needs the `format` option"
                    ))
                })?;
                format
                    .parse(s)
                    .map_err(|m| TransformError::Invalid(format!("field `{path}`: {m}")))?
            }
        })
    }

    fn millis_to_value(&self, ms: i64, path: &str) -> Result<Value, TransformError> {
        Ok(match self.target {
            Kind::Timestamp => Value::Int64(ms),
            Kind::Date => {
                Value::Int32(i32::try_from(ms.div_euclid(MILLIS_PER_DAY)).map_err(|_| {
                    TransformError::Invalid(format!(
                        "field `{path}`: timestamp {ms} is out of the Date range"
                    ))
                })?)
            }
            Kind::Time => Value::Int32(ms.rem_euclid(MILLIS_PER_DAY) as i32),
            Kind::Unix => Value::Int64(match self.precision {
                "seconds" => ms / 1000,
                "microseconds" => ms.saturating_mul(1000),
                "nanoseconds" => ms.saturating_mul(1_000_000),
                _ => ms,
            }),
            Kind::Str => {
                // The format is required for string targets (checked in configure).
                let f = self
                    .format
                    .as_ref()
                    .ok_or_else(|| TransformError::Invalid("no format".into()))?;
                Value::String(f.format(ms))
            }
        })
    }

    fn convert(
        &self,
        value: Value,
        kind: Option<Kind>,
        path: &str,
    ) -> Result<Value, TransformError> {
        if value.is_null() {
            return Ok(Value::Null);
        }
        let kind = match kind {
            Some(k) => k,
            None => match value {
                Value::Int64(_) => Kind::Unix,
                Value::String(_) => Kind::Str,
                _ => return Err(util::mismatch(path, "INT64 or STRING timestamp", &value)),
            },
        };
        let ms = self.value_to_millis(&value, kind, path)?;
        self.millis_to_value(ms, path)
    }
}

impl Transformation for TimestampConverter {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(
                ConfigKey::new(
                    "field",
                    ConfigType::String,
                    Importance::High,
                    "The field containing the timestamp, or empty if the entire value is a timestamp.",
                )
                .default_value(""),
            )
            .define(
                ConfigKey::new(
                    "target.type",
                    ConfigType::String,
                    Importance::High,
                    "The desired timestamp representation: string, unix, Date, Time, or Timestamp.",
                )
                .validator(Validator::one_of(&["string", "unix", "Date", "Time", "Timestamp"])),
            )
            .define(
                ConfigKey::new(
                    "format",
                    ConfigType::String,
                    Importance::Medium,
                    "A SimpleDateFormat-compatible pattern (UTC), for string targets or string inputs.",
                )
                .default_value(""),
            )
            .define(
                ConfigKey::new(
                    "unix.precision",
                    ConfigType::String,
                    Importance::Low,
                    "The precision of Unix timestamps: seconds, milliseconds, microseconds or nanoseconds.",
                )
                .default_value("milliseconds")
                .validator(Validator::one_of(&["seconds", "milliseconds", "microseconds", "nanoseconds"])),
            )
            .define(util::replace_null_key())
            .define(super::field_path::v1_only_key())
    }

    fn configure(&mut self, configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
        let parsed = self.config_def().parse(configs)?;
        let mut issues = Vec::new();
        self.field = util::string_of(&parsed, "field");
        self.target = match parsed
            .string("target.type")
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "string" => Kind::Str,
            "unix" => Kind::Unix,
            "date" => Kind::Date,
            "time" => Kind::Time,
            _ => Kind::Timestamp,
        };
        let format = parsed.string("format").unwrap_or_default();
        self.format = None;
        if !format.trim().is_empty() {
            match SimpleDateFormat::new(format) {
                Ok(f) => self.format = Some(f),
                Err(m) => issues.push(ConfigIssue::new("format", m)),
            }
        } else if self.target == Kind::Str {
            issues.push(ConfigIssue::new(
                "format",
                "required when target.type is string",
            ));
        }
        self.precision = match parsed
            .string("unix.precision")
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "seconds" => "seconds",
            "microseconds" => "microseconds",
            "nanoseconds" => "nanoseconds",
            _ => "milliseconds",
        };
        self.replace_null_with_default = util::replace_null(&parsed);
        self.cache = SchemaCache::default();
        util::issues_or(issues, ())
    }

    fn apply(&mut self, mut record: SourceRecord) -> Result<Option<SourceRecord>, TransformError> {
        let (schema, value) = self.side.take(&mut record);
        let label = self.side.label();
        match (schema, self.field.is_empty()) {
            (None, true) => {
                let out = self.convert(value, None, label)?;
                self.side.put(&mut record, None, out);
            }
            (None, false) => {
                if value.is_null() {
                    self.side.put(&mut record, None, Value::Null);
                    return Ok(Some(record));
                }
                let mut map = util::require_map(value, label)?;
                let path = util::path(label, &self.field);
                match util::map_position(&map, &self.field) {
                    Some(i) => {
                        let v = std::mem::replace(&mut map[i].1, Value::Null);
                        map[i].1 = self.convert(v, None, &path)?;
                    }
                    None => util::map_put(&mut map, &self.field, Value::Null),
                }
                self.side.put(&mut record, None, Value::Map(map));
            }
            (Some(schema), whole) => {
                let (target, field) = (self.target, &self.field);
                let mut cache = std::mem::take(&mut self.cache);
                let plan = cache.get_or_build(&schema, |s| {
                    let unknown = |s: &Schema, at: &str| {
                        TransformError::Invalid(format!(
                            "field `{at}`: schema {s} is not a timestamp type (Timestamp, Date, Time, INT64 or STRING)"
                        ))
                    };
                    if whole {
                        let kind = Kind::of_schema(s).ok_or_else(|| unknown(s, label))?;
                        return Ok(Arc::new((target.schema(s.optional), None, kind)));
                    }
                    if s.schema_type != SchemaType::Struct {
                        return Err(util::mismatch_type(label, "STRUCT", s.schema_type));
                    }
                    let f = s.field(field).ok_or_else(|| util::unknown_field(field, s))?;
                    let kind = Kind::of_schema(&f.schema).ok_or_else(|| unknown(&f.schema, &util::path(label, field)))?;
                    let fields = s
                        .fields
                        .iter()
                        .map(|g| {
                            let fs = if g.index == f.index { target.schema(g.schema.optional) } else { g.schema.clone() };
                            (g.name.clone(), fs)
                        })
                        .collect();
                    Ok(Arc::new((Arc::new(util::struct_like(s, fields)), Some(f.index), kind)))
                });
                self.cache = cache;
                let plan = plan?;
                let (out_schema, index, kind) = (&plan.0, plan.1, plan.2);
                let out = match index {
                    None => self.convert(value, Some(kind), label)?,
                    Some(_) if value.is_null() => Value::Null,
                    Some(i) => {
                        let (_, mut values) = util::require_struct(value, label)?.into_parts();
                        for (j, slot) in values.iter_mut().enumerate() {
                            let raw = std::mem::replace(slot, Value::Null);
                            *slot = util::read_field(
                                raw,
                                &schema.fields[j],
                                self.replace_null_with_default,
                            );
                        }
                        let v = std::mem::replace(&mut values[i], Value::Null);
                        values[i] = self.convert(v, Some(kind), &util::path(label, field))?;
                        Value::Struct(Struct::from_parts(out_schema.clone(), values)?)
                    }
                };
                self.side.put(&mut record, Some(out_schema.clone()), out);
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

    // 2017-01-22T13:07:28.789Z
    const TS: i64 = 1_485_090_448_789;
    const DATE_DAYS: i32 = 17_188;
    const TIME_MS: i32 = 13 * 3_600_000 + 7 * 60_000 + 28_789;

    fn configured(pairs: &[(&str, &str)]) -> TimestampConverter {
        let mut t = TimestampConverter::new(Side::Value);
        t.configure(&props(pairs)).unwrap();
        t
    }

    #[test]
    fn kafka_docs_example_field_string_to_timestamp() {
        // Confluent's documented example: field `date_field` from string
        // with format yyyy-MM-dd to Timestamp.
        let mut t = configured(&[
            ("field", "date_field"),
            ("target.type", "Timestamp"),
            ("format", "yyyy-MM-dd"),
        ]);
        let s = SchemaBuilder::struct_()
            .field("date_field", Schema::string())
            .field("n", Schema::int32())
            .build();
        let v = Struct::new(s.clone())
            .with("date_field", "2017-01-22")
            .unwrap()
            .with("n", 1)
            .unwrap();
        let out = t
            .apply(record("t", Some(s), Value::Struct(v)))
            .unwrap()
            .unwrap();
        out.validate().unwrap();
        let os = out.value_schema.clone().unwrap();
        assert_eq!(
            os.field("date_field").unwrap().schema.name.as_deref(),
            Some(logical::TIMESTAMP_NAME)
        );
        let ov = out.value.as_struct().unwrap();
        assert_eq!(
            ov.get("date_field"),
            Some(&Value::Int64(i64::from(DATE_DAYS) * MILLIS_PER_DAY))
        );
        assert_eq!(ov.get("n"), Some(&Value::Int32(1)));
    }

    #[test]
    fn schemaful_whole_value_conversions() {
        let ts = || record("t", Some(logical::timestamp_schema()), Value::Int64(TS));
        let run = |pairs: &[(&str, &str)]| configured(pairs).apply(ts()).unwrap().unwrap();
        let out = run(&[("target.type", "Date")]);
        assert_eq!(out.value, Value::Int32(DATE_DAYS));
        assert_eq!(out.value_schema, Some(logical::date_schema()));
        assert_eq!(run(&[("target.type", "Time")]).value, Value::Int32(TIME_MS));
        assert_eq!(run(&[("target.type", "unix")]).value, Value::Int64(TS));
        assert_eq!(
            run(&[("target.type", "unix"), ("unix.precision", "seconds")]).value,
            Value::Int64(TS / 1000)
        );
        assert_eq!(
            run(&[("target.type", "unix"), ("unix.precision", "microseconds")]).value,
            Value::Int64(TS * 1000)
        );
        let out = run(&[
            ("target.type", "string"),
            ("format", "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"),
        ]);
        assert_eq!(out.value, Value::from("2017-01-22T13:07:28.789Z"));
        assert_eq!(out.value_schema, Some(Schema::string()));
        // From Date and Time.
        let mut t = configured(&[("target.type", "Timestamp")]);
        let out = t
            .apply(record(
                "t",
                Some(logical::date_schema()),
                Value::Int32(DATE_DAYS),
            ))
            .unwrap()
            .unwrap();
        assert_eq!(
            out.value,
            Value::Int64(i64::from(DATE_DAYS) * MILLIS_PER_DAY)
        );
        let out = t
            .apply(record(
                "t",
                Some(logical::time_schema()),
                Value::Int32(TIME_MS),
            ))
            .unwrap()
            .unwrap();
        assert_eq!(out.value, Value::Int64(i64::from(TIME_MS)));
    }

    #[test]
    fn schemaless_unix_and_string_inputs() {
        let mut t = configured(&[("target.type", "string"), ("format", "yyyy-MM-dd HH:mm")]);
        let out = t
            .apply(record("t", None, Value::Int64(TS)))
            .unwrap()
            .unwrap();
        assert_eq!(out.value, Value::from("2017-01-22 13:07"));
        let mut t = configured(&[
            ("target.type", "unix"),
            ("format", "yyyy-MM-dd"),
            ("field", "ts"),
        ]);
        let out = t
            .apply(record(
                "t",
                None,
                map(vec![("ts", Value::from("2017-01-22"))]),
            ))
            .unwrap()
            .unwrap();
        assert_eq!(
            out.value,
            map(vec![(
                "ts",
                Value::Int64(i64::from(DATE_DAYS) * MILLIS_PER_DAY)
            )])
        );
        let mut t = configured(&[
            ("target.type", "Timestamp"),
            ("unix.precision", "nanoseconds"),
        ]);
        let out = t
            .apply(record("t", None, Value::Int64(TS * 1_000_000)))
            .unwrap()
            .unwrap();
        assert_eq!(out.value, Value::Int64(TS));
    }

    #[test]
    fn nulls_stay_null_with_the_target_schema() {
        let mut t = configured(&[("target.type", "Date")]);
        let opt_ts = logical::timestamp_builder().optional().build();
        let out = t
            .apply(record("t", Some(opt_ts), Value::Null))
            .unwrap()
            .unwrap();
        assert_eq!(out.value, Value::Null);
        assert!(out.value_schema.unwrap().optional);
        let out = t.apply(record("t", None, Value::Null)).unwrap().unwrap();
        assert_eq!(out.value, Value::Null);
    }

    #[test]
    fn bad_data_unparsable_string_and_wrong_types() {
        let mut t = configured(&[
            ("target.type", "unix"),
            ("format", "yyyy-MM-dd"),
            ("field", "ts"),
        ]);
        let err = t
            .apply(record(
                "t",
                None,
                map(vec![("ts", Value::from("22/01/2017"))]),
            ))
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("field `value.ts`: could not parse `22/01/2017`"),
            "{err}"
        );
        let err = t
            .apply(record("t", None, map(vec![("ts", Value::Boolean(true))])))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `value.ts`: expected INT64 or STRING timestamp, got BOOLEAN"
        );
        let mut t = configured(&[("target.type", "unix")]);
        let err = t
            .apply(record("t", Some(Schema::int32()), Value::Int32(1)))
            .unwrap_err();
        assert!(err.to_string().contains("not a timestamp type"), "{err}");
    }

    #[test]
    fn bad_config_string_target_needs_format() {
        let mut t = TimestampConverter::new(Side::Value);
        assert_eq!(
            issue_texts(
                &t.configure(&props(&[("target.type", "string")]))
                    .unwrap_err()
            ),
            ["format: required when target.type is string"]
        );
        let issues = t
            .configure(&props(&[
                ("target.type", "epoch"),
                ("unix.precision", "days"),
            ]))
            .unwrap_err();
        assert_eq!(issues.len(), 2);
        let issues = t
            .configure(&props(&[("target.type", "unix"), ("format", "yyyy-QQ")]))
            .unwrap_err();
        assert_eq!(issues[0].key, "format");
    }
}
