//! `TimestampRouter`: renames the topic from the topic and the record's
//! timestamp, e.g. for daily indices.

use crate::config::{ConfigDef, ConfigIssue, ConfigKey, ConfigType, Importance, Properties};
use crate::data::SourceRecord;

use super::simple_date_format::SimpleDateFormat;
use super::{TransformError, Transformation};

/// Kafka's `TimestampRouter`: the topic becomes `topic.format` with
/// `${topic}` replaced by the topic and `${timestamp}` by the record
/// timestamp formatted with `timestamp.format` (a `SimpleDateFormat`
/// pattern, UTC). A record without a timestamp is an error.
#[derive(Debug)]
pub struct TimestampRouter {
    topic_format: String,
    format: Option<SimpleDateFormat>,
}

impl Default for TimestampRouter {
    fn default() -> Self {
        TimestampRouter {
            topic_format: "${topic}-${timestamp}".to_owned(),
            format: SimpleDateFormat::new("yyyyMMdd").ok(),
        }
    }
}

impl TimestampRouter {
    /// A transform with Kafka's defaults.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Transformation for TimestampRouter {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(
                ConfigKey::new(
                    "topic.format",
                    ConfigType::String,
                    Importance::High,
                    "Format string which can contain ${topic} and ${timestamp} as placeholders for the topic and timestamp, respectively.",
                )
                .default_value("${topic}-${timestamp}"),
            )
            .define(
                ConfigKey::new(
                    "timestamp.format",
                    ConfigType::String,
                    Importance::High,
                    "Format string for the timestamp that is compatible with java.text.SimpleDateFormat (UTC).",
                )
                .default_value("yyyyMMdd"),
            )
    }

    fn configure(&mut self, configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
        let parsed = self.config_def().parse(configs)?;
        self.topic_format = parsed.string("topic.format").unwrap_or_default().to_owned();
        let format = SimpleDateFormat::new(parsed.string("timestamp.format").unwrap_or_default())
            .map_err(|m| vec![ConfigIssue::new("timestamp.format", m)])?;
        self.format = Some(format);
        Ok(())
    }

    fn apply(&mut self, mut record: SourceRecord) -> Result<Option<SourceRecord>, TransformError> {
        let Some(ts) = record.timestamp else {
            return Err(TransformError::Invalid(format!(
                "timestamp missing on record for topic `{}`",
                record.topic
            )));
        };
        let formatted = match &self.format {
            Some(f) => f.format(ts),
            None => {
                return Err(TransformError::Invalid(
                    "TimestampRouter is not configured".into(),
                ))
            }
        };
        let topic = self
            .topic_format
            .replace("${topic}", &record.topic)
            .replace("${timestamp}", &formatted);
        record.topic = topic.into();
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Value;
    use crate::transforms::test_util::{issue_texts, props, record};

    #[test]
    fn default_formats_topic_and_day() {
        let mut t = TimestampRouter::new();
        t.configure(&Properties::new()).unwrap();
        let r = record("test", None, Value::Null).with_timestamp(1_483_425_001_864);
        assert_eq!(&*t.apply(r).unwrap().unwrap().topic, "test-20170103");
    }

    #[test]
    fn custom_formats() {
        let mut t = TimestampRouter::new();
        t.configure(&props(&[
            ("topic.format", "${timestamp}_${topic}"),
            ("timestamp.format", "yyyy-MM"),
        ]))
        .unwrap();
        let r = record("logs", None, Value::Null).with_timestamp(0);
        assert_eq!(&*t.apply(r).unwrap().unwrap().topic, "1970-01_logs");
    }

    #[test]
    fn bad_data_missing_timestamp_and_bad_config() {
        let mut t = TimestampRouter::new();
        let err = t.apply(record("x", None, Value::Null)).unwrap_err();
        assert_eq!(err.to_string(), "timestamp missing on record for topic `x`");
        let issues = t
            .configure(&props(&[("timestamp.format", "yyyy-ww")]))
            .unwrap_err();
        assert_eq!(issue_texts(&issues).len(), 1);
        assert_eq!(issues[0].key, "timestamp.format");
    }
}
