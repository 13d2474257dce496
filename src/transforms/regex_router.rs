//! `RegexRouter`: renames the topic when the whole topic name matches a
//! regular expression.

use std::sync::Arc;

use regex::Regex;

use crate::config::{
    ConfigDef, ConfigIssue, ConfigKey, ConfigType, Importance, Properties, Validator,
};
use crate::data::SourceRecord;

use super::predicates::full_match_regex;
use super::{TransformError, Transformation};

/// Kafka's `RegexRouter`: when `regex` matches the whole topic, the topic
/// becomes `replacement`, where `$1`, `$2`, … (and `${name}`) stand for
/// the captured groups, as in Java's `Matcher.replaceFirst`.
#[derive(Debug, Default)]
pub struct RegexRouter {
    regex: Option<Regex>,
    /// The replacement in Rust's `Captures::expand` syntax.
    replacement: String,
    /// The last topic seen and what it became.
    last: Option<(Arc<str>, Arc<str>)>,
}

impl RegexRouter {
    /// An unconfigured transform; configure it with `regex` and `replacement`.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Java's replacement syntax (`$1`, `${name}`, `\$` for a literal `$`)
/// in Rust's (`${1}`, `${name}`, `$$`).
pub(crate) fn java_replacement(java: &str, groups: usize) -> Result<String, String> {
    let mut out = String::with_capacity(java.len() + 8);
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => return Err("character to be escaped is missing".into()),
            },
            '$' => {
                match chars.peek() {
                    Some('{') => {
                        chars.next();
                        let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                        if name.is_empty() {
                            return Err(
                                "named capturing group is missing trailing '}' or a name".into()
                            );
                        }
                        out.push_str(&format!("${{{name}}}"));
                    }
                    Some(d) if d.is_ascii_digit() => {
                        // Java reads as many digits as still name an existing group.
                        let mut n = 0usize;
                        let mut first = true;
                        while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                            let next = n * 10 + d as usize;
                            if !first && next >= groups {
                                break;
                            }
                            n = next;
                            first = false;
                            chars.next();
                        }
                        if n >= groups {
                            return Err(format!("no group {n}"));
                        }
                        out.push_str(&format!("${{{n}}}"));
                    }
                    _ => return Err(
                        "illegal group reference: `$` must be followed by a group number or {name}"
                            .into(),
                    ),
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

impl Transformation for RegexRouter {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(
                ConfigKey::new(
                    "regex",
                    ConfigType::String,
                    Importance::High,
                    "Regular expression to use for matching.",
                )
                .validator(Validator::NonEmptyString),
            )
            .define(ConfigKey::new(
                "replacement",
                ConfigType::String,
                Importance::High,
                "Replacement string.",
            ))
    }

    fn configure(&mut self, configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
        let parsed = self.config_def().parse(configs)?;
        let re = full_match_regex(parsed.string("regex").unwrap_or_default())
            .map_err(|m| vec![ConfigIssue::new("regex", m)])?;
        self.replacement = java_replacement(
            parsed.string("replacement").unwrap_or_default(),
            re.captures_len(),
        )
        .map_err(|m| vec![ConfigIssue::new("replacement", m)])?;
        self.regex = Some(re);
        self.last = None;
        Ok(())
    }

    fn apply(&mut self, mut record: SourceRecord) -> Result<Option<SourceRecord>, TransformError> {
        if let Some((from, to)) = &self.last {
            if Arc::ptr_eq(from, &record.topic) || **from == *record.topic {
                record.topic = to.clone();
                return Ok(Some(record));
            }
        }
        let Some(re) = &self.regex else {
            return Ok(Some(record));
        };
        let to: Arc<str> = match re.captures(&record.topic) {
            Some(caps) => {
                let mut out = String::new();
                caps.expand(&self.replacement, &mut out);
                Arc::from(out)
            }
            None => record.topic.clone(),
        };
        self.last = Some((record.topic.clone(), to.clone()));
        record.topic = to;
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Value;
    use crate::transforms::test_util::{issue_texts, props, record};

    fn route(regex: &str, replacement: &str, topic: &str) -> String {
        let mut t = RegexRouter::new();
        t.configure(&props(&[("regex", regex), ("replacement", replacement)]))
            .unwrap();
        t.apply(record(topic, None, Value::Null))
            .unwrap()
            .unwrap()
            .topic
            .to_string()
    }

    #[test]
    fn kafka_docs_style_routes_by_captured_groups() {
        assert_eq!(
            route("(.*)-(\\d\\d\\d\\d\\d\\d\\d\\d)", "$2-$1", "foo-20160101"),
            "20160101-foo"
        );
        assert_eq!(route("(.*)", "prefix-$1", "orders"), "prefix-orders");
        assert_eq!(route("(?<name>[a-z]+)_x", "${name}", "abc_x"), "abc");
    }

    #[test]
    fn only_whole_topic_matches_are_routed() {
        assert_eq!(route("foo", "bar", "foobar"), "foobar");
        assert_eq!(route("foo", "bar", "foo"), "bar");
    }

    #[test]
    fn java_replacement_escapes_and_group_digits() {
        assert_eq!(java_replacement("\\$1$1", 2).unwrap(), "$$1${1}");
        // `$12` with one group: group 1 then a literal 2.
        assert_eq!(java_replacement("$12", 2).unwrap(), "${1}2");
        assert!(java_replacement("$3", 2).is_err());
    }

    #[test]
    fn repeated_topic_reuses_the_last_result() {
        let mut t = RegexRouter::new();
        t.configure(&props(&[("regex", "(.*)"), ("replacement", "x-$1")]))
            .unwrap();
        let a = t.apply(record("t", None, Value::Null)).unwrap().unwrap();
        let b = t.apply(record("t", None, Value::Null)).unwrap().unwrap();
        assert!(Arc::ptr_eq(&a.topic, &b.topic));
        let c = t.apply(record("u", None, Value::Null)).unwrap().unwrap();
        assert_eq!(&*c.topic, "x-u");
    }

    #[test]
    fn bad_config_bad_regex_and_group() {
        let mut t = RegexRouter::new();
        let issues = t
            .configure(&props(&[("regex", "(a"), ("replacement", "x")]))
            .unwrap_err();
        assert_eq!(issues[0].key, "regex");
        let issues = t
            .configure(&props(&[("regex", "(a)"), ("replacement", "$2")]))
            .unwrap_err();
        assert_eq!(issue_texts(&issues), ["replacement: no group 2"]);
    }
}
