//! Configuration: `.properties` files, Kafka-style `ConfigDef` with typed,
//! validated, documented keys, and the keys every connector shares.

mod def;
mod properties;
pub mod common;

pub use def::{
    ConfigDef, ConfigIssue, ConfigKey, ConfigType, ConfigValue, Importance, ParsedConfig,
    Password, Validator,
};
pub use properties::{load_properties, parse_properties, ConfigError, Properties};
