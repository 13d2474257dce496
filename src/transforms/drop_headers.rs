//! `DropHeaders`: removes every header whose key is listed.

use crate::config::{
    ConfigDef, ConfigIssue, ConfigKey, ConfigType, Importance, Properties, Validator,
};
use crate::data::SourceRecord;

use super::util;
use super::{TransformError, Transformation};

/// Kafka's `DropHeaders`: removes all headers with a key in `headers`.
#[derive(Debug, Default)]
pub struct DropHeaders {
    headers: Vec<String>,
}

impl DropHeaders {
    /// An unconfigured transform; configure it with `headers`.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Transformation for DropHeaders {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new().define(
            ConfigKey::new(
                "headers",
                ConfigType::List,
                Importance::High,
                "The name of the headers to be removed.",
            )
            .validator(Validator::NonEmptyString),
        )
    }

    fn configure(&mut self, configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
        let parsed = self.config_def().parse(configs)?;
        self.headers = util::list_of(&parsed, "headers");
        Ok(())
    }

    fn apply(&mut self, mut record: SourceRecord) -> Result<Option<SourceRecord>, TransformError> {
        record.headers.retain(|h| !self.headers.contains(&h.key));
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Header, Value};
    use crate::transforms::test_util::{issue_texts, props, record};

    fn header(key: &str) -> Header {
        Header {
            key: key.into(),
            schema: None,
            value: Value::from(key),
        }
    }

    #[test]
    fn drops_every_header_of_the_listed_keys() {
        let mut t = DropHeaders::new();
        t.configure(&props(&[("headers", "a,b")])).unwrap();
        let r = record("t", None, Value::Null)
            .with_header(header("a"))
            .with_header(header("c"))
            .with_header(header("b"))
            .with_header(header("a"));
        let out = t.apply(r).unwrap().unwrap();
        let keys: Vec<&str> = out.headers.iter().map(|h| h.key.as_str()).collect();
        assert_eq!(keys, ["c"]);
    }

    #[test]
    fn bad_config_needs_headers() {
        let mut t = DropHeaders::new();
        assert_eq!(
            issue_texts(&t.configure(&props(&[("headers", "")])).unwrap_err()),
            ["headers: must not be empty"]
        );
    }
}
