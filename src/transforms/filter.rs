//! `Filter`: drops every record it is applied to; meant to be used with a
//! predicate (`transforms.<name>.predicate`).

use crate::config::{ConfigDef, ConfigIssue, Properties};
use crate::data::SourceRecord;

use super::{TransformError, Transformation};

/// Kafka's `org.apache.kafka.connect.transforms.Filter`: drops the record.
/// Without a predicate it drops every record.
#[derive(Debug, Default)]
pub struct Filter;

impl Filter {
    /// A new filter (it takes no configuration).
    pub fn new() -> Self {
        Filter
    }
}

impl Transformation for Filter {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
    }

    fn configure(&mut self, _configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
        Ok(())
    }

    fn apply(&mut self, _record: SourceRecord) -> Result<Option<SourceRecord>, TransformError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Value;
    use crate::transforms::test_util::record;

    #[test]
    fn filter_drops_every_record() {
        let mut f = Filter::new();
        f.configure(&Properties::new()).unwrap();
        assert_eq!(f.apply(record("t", None, Value::from("x"))).unwrap(), None);
        assert_eq!(f.apply(record("t", None, Value::Null)).unwrap(), None);
    }
}
