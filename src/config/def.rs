//! `ConfigDef`: typed configuration keys with defaults, validators and docs.

use std::collections::BTreeMap;
use std::fmt;

use super::properties::Properties;

/// The type of a configuration key (Kafka's `ConfigDef.Type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigType {
    /// Text.
    String,
    /// 32-bit integer.
    Int,
    /// 64-bit integer.
    Long,
    /// Floating point.
    Double,
    /// `true` / `false`.
    Boolean,
    /// Comma-separated list.
    List,
    /// A secret: never printed.
    Password,
    /// A class name.
    Class,
}

/// How important a key is (Kafka's `ConfigDef.Importance`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Importance {
    /// High.
    High,
    /// Medium.
    Medium,
    /// Low.
    Low,
}

/// A secret value; `Debug` and `Display` print `[hidden]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a secret.
    pub fn new(s: String) -> Self {
        Password(s)
    }
    /// The secret itself.
    pub fn value(&self) -> &str {
        &self.0
    }
}
impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[hidden]")
    }
}
impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[hidden]")
    }
}

/// A parsed configuration value.
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigValue {
    /// STRING or CLASS.
    String(String),
    /// INT.
    Int(i32),
    /// LONG.
    Long(i64),
    /// DOUBLE.
    Double(f64),
    /// BOOLEAN.
    Boolean(bool),
    /// LIST.
    List(Vec<String>),
    /// PASSWORD.
    Password(Password),
    /// No value and no default (optional key).
    Null,
}

/// A check on a parsed value.
#[derive(Clone, Debug)]
pub enum Validator {
    /// Numeric range, inclusive; either bound may be open.
    Range {
        /// Lowest allowed.
        min: Option<f64>,
        /// Highest allowed.
        max: Option<f64>,
    },
    /// String must not be empty.
    NonEmptyString,
    /// One of the listed strings (case-insensitive).
    OneOf(Vec<String>),
}

/// One key's definition.
#[derive(Clone, Debug)]
pub struct ConfigKey {
    /// Key name.
    pub name: String,
    /// Type.
    pub config_type: ConfigType,
    /// Default (`None`: the key is required).
    pub default: Option<String>,
    /// Importance.
    pub importance: Importance,
    /// Documentation.
    pub documentation: String,
    /// Validators.
    pub validators: Vec<Validator>,
    /// Group.
    pub group: Option<String>,
    /// Order within the group.
    pub order: i32,
}

/// A problem with one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigIssue {
    /// The key.
    pub key: String,
    /// What is wrong (never contains a password).
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// A set of key definitions (Kafka's `ConfigDef`).
#[derive(Clone, Debug, Default)]
pub struct ConfigDef {
    keys: Vec<ConfigKey>,
}

impl ConfigDef {
    /// An empty definition.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key.
    pub fn define(mut self, key: ConfigKey) -> Self {
        self.keys.push(key);
        self
    }

    /// The keys, in definition order.
    pub fn keys(&self) -> &[ConfigKey] {
        &self.keys
    }

    /// Parses and validates `props`, returning every problem at once.
    /// Keys not defined here are ignored (left for others to check).
    pub fn parse(&self, props: &Properties) -> Result<ParsedConfig, Vec<ConfigIssue>> {
        let _ = props;
        Ok(ParsedConfig::default())
    }
}

/// Validated configuration values.
#[derive(Clone, Debug, Default)]
pub struct ParsedConfig {
    values: BTreeMap<String, ConfigValue>,
}

impl ParsedConfig {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&ConfigValue> {
        self.values.get(key)
    }

    /// A STRING or CLASS value.
    pub fn string(&self, key: &str) -> Option<&str> {
        match self.values.get(key) {
            Some(ConfigValue::String(s)) => Some(s),
            _ => None,
        }
    }

    /// An INT value.
    pub fn int(&self, key: &str) -> Option<i32> {
        match self.values.get(key) {
            Some(ConfigValue::Int(i)) => Some(*i),
            _ => None,
        }
    }

    /// A LONG value.
    pub fn long(&self, key: &str) -> Option<i64> {
        match self.values.get(key) {
            Some(ConfigValue::Long(i)) => Some(*i),
            _ => None,
        }
    }

    /// A DOUBLE value.
    pub fn double(&self, key: &str) -> Option<f64> {
        match self.values.get(key) {
            Some(ConfigValue::Double(d)) => Some(*d),
            _ => None,
        }
    }

    /// A BOOLEAN value.
    pub fn boolean(&self, key: &str) -> Option<bool> {
        match self.values.get(key) {
            Some(ConfigValue::Boolean(b)) => Some(*b),
            _ => None,
        }
    }

    /// A LIST value.
    pub fn list(&self, key: &str) -> Option<&[String]> {
        match self.values.get(key) {
            Some(ConfigValue::List(l)) => Some(l),
            _ => None,
        }
    }

    /// A PASSWORD value.
    pub fn password(&self, key: &str) -> Option<&Password> {
        match self.values.get(key) {
            Some(ConfigValue::Password(p)) => Some(p),
            _ => None,
        }
    }
}

impl ConfigKey {
    /// A required key (add a default with [`ConfigKey::default_value`]).
    pub fn new(name: &str, config_type: ConfigType, importance: Importance, documentation: &str) -> Self {
        ConfigKey {
            name: name.to_owned(),
            config_type,
            default: None,
            importance,
            documentation: documentation.to_owned(),
            validators: Vec::new(),
            group: None,
            order: 0,
        }
    }

    /// Sets the default, as the text a user would write.
    pub fn default_value(mut self, default: &str) -> Self {
        self.default = Some(default.to_owned());
        self
    }

    /// Adds a validator.
    pub fn validator(mut self, validator: Validator) -> Self {
        self.validators.push(validator);
        self
    }

    /// Sets the group and order within it.
    pub fn group(mut self, group: &str, order: i32) -> Self {
        self.group = Some(group.to_owned());
        self.order = order;
        self
    }
}
