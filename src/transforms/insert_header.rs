//! `InsertHeader`: adds a header with a literal value to every record.

use crate::config::{
    ConfigDef, ConfigIssue, ConfigKey, ConfigType, Importance, Properties, Validator,
};
use crate::data::{Header, Schema, SchemaRef, SourceRecord, Value};

use super::util;
use super::{TransformError, Transformation};

/// Kafka's `InsertHeader`: adds header `header` with `value.literal`,
/// typed as Kafka's `Values.parseString` types it (`true`/`false` →
/// BOOLEAN, an integer → the smallest of INT8…INT64, a decimal number →
/// FLOAT32 or FLOAT64, anything else → STRING).
#[derive(Debug)]
pub struct InsertHeader {
    header: String,
    schema: SchemaRef,
    value: Value,
}

impl Default for InsertHeader {
    fn default() -> Self {
        InsertHeader {
            header: String::new(),
            schema: Schema::string(),
            value: Value::Null,
        }
    }
}

impl InsertHeader {
    /// An unconfigured transform; configure it with `header` and `value.literal`.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Types a literal as Kafka's `Values.parseString` does for scalars.
pub(crate) fn parse_literal(text: &str) -> (SchemaRef, Value) {
    let t = text.trim();
    if t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false") {
        return (
            Schema::boolean(),
            Value::Boolean(t.eq_ignore_ascii_case("true")),
        );
    }
    if let Ok(i) = t.parse::<i64>() {
        return if let Ok(v) = i8::try_from(i) {
            (Schema::int8(), Value::Int8(v))
        } else if let Ok(v) = i16::try_from(i) {
            (Schema::int16(), Value::Int16(v))
        } else if let Ok(v) = i32::try_from(i) {
            (Schema::int32(), Value::Int32(v))
        } else {
            (Schema::int64(), Value::Int64(i))
        };
    }
    let numeric = !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
        && t.chars().any(|c| c.is_ascii_digit());
    if numeric {
        if let Ok(f) = t.parse::<f64>() {
            let single = f as f32;
            return if single.is_finite() {
                (Schema::float32(), Value::Float32(single))
            } else {
                (Schema::float64(), Value::Float64(f))
            };
        }
    }
    (Schema::string(), Value::String(text.to_owned()))
}

impl Transformation for InsertHeader {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(
                ConfigKey::new(
                    "header",
                    ConfigType::String,
                    Importance::High,
                    "The name of the header.",
                )
                .validator(Validator::NonEmptyString),
            )
            .define(ConfigKey::new(
                "value.literal",
                ConfigType::String,
                Importance::High,
                "The literal value that is to be set as the header value on all records.",
            ))
    }

    fn configure(&mut self, configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
        let parsed = self.config_def().parse(configs)?;
        self.header = util::string_of(&parsed, "header");
        let (schema, value) = parse_literal(parsed.string("value.literal").unwrap_or_default());
        self.schema = schema;
        self.value = value;
        Ok(())
    }

    fn apply(&mut self, mut record: SourceRecord) -> Result<Option<SourceRecord>, TransformError> {
        record.headers.push(Header {
            key: self.header.clone(),
            schema: Some(self.schema.clone()),
            value: self.value.clone(),
        });
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::test_util::{issue_texts, props, record};

    #[test]
    fn inserts_typed_literal_header() {
        let mut t = InsertHeader::new();
        t.configure(&props(&[("header", "app.id"), ("value.literal", "my-app")]))
            .unwrap();
        let out = t.apply(record("t", None, Value::Null)).unwrap().unwrap();
        assert_eq!(out.headers.len(), 1);
        assert_eq!(out.headers[0].key, "app.id");
        assert_eq!(out.headers[0].value, Value::from("my-app"));
        assert_eq!(out.headers[0].schema, Some(Schema::string()));
    }

    #[test]
    fn literals_are_typed_like_kafka_values() {
        assert_eq!(parse_literal("42").1, Value::Int8(42));
        assert_eq!(parse_literal("4200").1, Value::Int16(4200));
        assert_eq!(parse_literal("70000").1, Value::Int32(70000));
        assert_eq!(parse_literal("5000000000").1, Value::Int64(5_000_000_000));
        assert_eq!(parse_literal("1.5").1, Value::Float32(1.5));
        assert_eq!(parse_literal("TRUE").1, Value::Boolean(true));
        assert_eq!(parse_literal("1.2.3").1, Value::from("1.2.3"));
        assert_eq!(parse_literal("").1, Value::from(""));
    }

    #[test]
    fn bad_config_needs_header_and_literal() {
        let mut t = InsertHeader::new();
        assert_eq!(
            issue_texts(&t.configure(&props(&[("header", "")])).unwrap_err()),
            [
                "header: must not be empty",
                "value.literal: missing required configuration, which has no default value",
            ]
        );
    }
}
