//! Kafka's built-in predicates: `TopicNameMatches`, `HasHeaderKey` and
//! `RecordIsTombstone` (`org.apache.kafka.connect.transforms.predicates.*`).

use regex::Regex;

use crate::config::{
    ConfigDef, ConfigIssue, ConfigKey, ConfigType, Importance, Properties, Validator,
};
use crate::data::SourceRecord;

use super::Predicate;

/// Compiles `pattern` so that it must match a whole string, as Java's
/// `Matcher.matches()` does.
pub(crate) fn full_match_regex(pattern: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| format!("invalid regular expression `{pattern}`: {e}"))
}

/// Matches records whose topic name matches `pattern` entirely (Kafka's
/// `TopicNameMatches`).
#[derive(Debug, Default)]
pub struct TopicNameMatches {
    pattern: Option<Regex>,
}

impl TopicNameMatches {
    /// An unconfigured predicate; configure it with `pattern`.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Predicate for TopicNameMatches {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new().define(
            ConfigKey::new(
                "pattern",
                ConfigType::String,
                Importance::Medium,
                "A regular expression that must match the whole topic name of a record.",
            )
            .validator(Validator::NonEmptyString),
        )
    }

    fn configure(&mut self, configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
        let parsed = self.config_def().parse(configs)?;
        let pattern = parsed.string("pattern").unwrap_or_default();
        let re = full_match_regex(pattern).map_err(|m| vec![ConfigIssue::new("pattern", m)])?;
        self.pattern = Some(re);
        Ok(())
    }

    fn test(&self, record: &SourceRecord) -> bool {
        self.pattern
            .as_ref()
            .is_some_and(|re| re.is_match(&record.topic))
    }
}

/// Matches records with at least one header of key `name` (Kafka's
/// `HasHeaderKey`).
#[derive(Debug, Default)]
pub struct HasHeaderKey {
    name: String,
}

impl HasHeaderKey {
    /// An unconfigured predicate; configure it with `name`.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Predicate for HasHeaderKey {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new().define(
            ConfigKey::new(
                "name",
                ConfigType::String,
                Importance::Medium,
                "The header key whose presence makes the predicate true.",
            )
            .validator(Validator::NonEmptyString),
        )
    }

    fn configure(&mut self, configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
        let parsed = self.config_def().parse(configs)?;
        self.name = parsed.string("name").unwrap_or_default().to_owned();
        Ok(())
    }

    fn test(&self, record: &SourceRecord) -> bool {
        record.headers.iter().any(|h| h.key == self.name)
    }
}

/// Matches tombstones: records whose value is null (Kafka's
/// `RecordIsTombstone`).
#[derive(Debug, Default)]
pub struct RecordIsTombstone;

impl RecordIsTombstone {
    /// The predicate (it takes no configuration).
    pub fn new() -> Self {
        RecordIsTombstone
    }
}

impl Predicate for RecordIsTombstone {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
    }

    fn configure(&mut self, _configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
        Ok(())
    }

    fn test(&self, record: &SourceRecord) -> bool {
        record.value.is_null()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Header, Schema, Value};
    use crate::transforms::test_util::{issue_texts, props, record};

    #[test]
    fn topic_name_matches_whole_topic_only() {
        let mut p = TopicNameMatches::new();
        p.configure(&props(&[("pattern", "foo.*")])).unwrap();
        assert!(p.test(&record("foo", None, Value::Null)));
        assert!(p.test(&record("foobar", None, Value::Null)));
        assert!(!p.test(&record("barfoo", None, Value::Null)));
        let mut exact = TopicNameMatches::new();
        exact.configure(&props(&[("pattern", "foo")])).unwrap();
        assert!(!exact.test(&record("foobar", None, Value::Null)));
    }

    #[test]
    fn topic_name_matches_rejects_bad_and_missing_pattern() {
        let mut p = TopicNameMatches::new();
        let issues = p.configure(&props(&[("pattern", "foo(")])).unwrap_err();
        assert_eq!(issues[0].key, "pattern");
        assert!(
            issues[0].message.contains("invalid regular expression"),
            "{issues:?}"
        );
        let issues = p.configure(&Properties::new()).unwrap_err();
        assert_eq!(
            issue_texts(&issues),
            ["pattern: missing required configuration, which has no default value"]
        );
    }

    #[test]
    fn has_header_key_looks_for_any_header_of_that_key() {
        let mut p = HasHeaderKey::new();
        p.configure(&props(&[("name", "trace")])).unwrap();
        let bare = record("t", None, Value::Null);
        assert!(!p.test(&bare));
        let with = bare.with_header(Header {
            key: "trace".into(),
            schema: Some(Schema::string()),
            value: Value::from("x"),
        });
        assert!(p.test(&with));
        assert!(p.configure(&props(&[("name", " ")])).is_err());
    }

    #[test]
    fn record_is_tombstone_tests_for_null_value() {
        let p = RecordIsTombstone::new();
        assert!(p.test(&record("t", Some(Schema::optional_string()), Value::Null)));
        assert!(!p.test(&record("t", None, Value::from(""))));
    }
}
