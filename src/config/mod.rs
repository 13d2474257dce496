//! Configuration: `.properties` files, Kafka-style `ConfigDef` with typed,
//! validated, documented keys, and the keys every connector shares.

pub mod common;
mod def;
mod properties;
mod providers;
mod unknown;

pub use common::{connector_config_def, CommonConfig, ErrorHandling, ErrorTolerance};
pub use def::{
    ConfigDef, ConfigIssue, ConfigKey, ConfigType, ConfigValue, Importance, InvalidConfig,
    ParsedConfig, Password, Validator, HIDDEN, MAX_FILE_NAME_BYTES,
};
pub use properties::{load_properties, parse_properties, ConfigError, Properties};
pub use providers::{resolve_providers, Resolved, CONFIG_PROVIDERS};
pub use unknown::{nearest, unknown_keys, UnknownKey, DELEGATED_PREFIXES};

/// Properties from `(key, value)` pairs, for tests.
#[cfg(test)]
pub(crate) fn test_props(pairs: &[(&str, &str)]) -> Properties {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}
