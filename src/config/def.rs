//! `ConfigDef`: typed configuration keys with defaults, validators and docs.

use std::collections::BTreeMap;
use std::fmt;

use super::properties::Properties;

/// What stands in for a password wherever a value would be shown:
/// `Debug`, `Display`, [`ConfigDef::redact`], [`ConfigDef::to_markdown`].
pub const HIDDEN: &str = "[hidden]";

/// The type of a configuration key (Kafka's `ConfigDef.Type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigType {
    /// Text, taken as written (not trimmed).
    String,
    /// 32-bit integer.
    Int,
    /// 64-bit integer.
    Long,
    /// Floating point (`NaN` is refused).
    Double,
    /// `true` / `false`, in any case.
    Boolean,
    /// Comma-separated list; items are trimmed, an empty value is an empty
    /// list.
    List,
    /// A secret: never printed.
    Password,
    /// A class name (a trimmed string).
    Class,
}

impl ConfigType {
    /// Kafka's name for the type: `STRING`, `INT`, ….
    pub fn name(self) -> &'static str {
        match self {
            ConfigType::String => "STRING",
            ConfigType::Int => "INT",
            ConfigType::Long => "LONG",
            ConfigType::Double => "DOUBLE",
            ConfigType::Boolean => "BOOLEAN",
            ConfigType::List => "LIST",
            ConfigType::Password => "PASSWORD",
            ConfigType::Class => "CLASS",
        }
    }

    /// Parses `text` as this type, as Kafka's `ConfigDef.parseType` does:
    /// numbers, booleans, lists and classes are trimmed first, strings and
    /// passwords are kept as written. `None`: not a value of this type.
    pub fn parse(self, text: &str) -> Option<ConfigValue> {
        let trimmed = text.trim();
        Some(match self {
            ConfigType::String => ConfigValue::String(text.to_owned()),
            ConfigType::Password => ConfigValue::Password(Password::new(text.to_owned())),
            ConfigType::Class => ConfigValue::String(trimmed.to_owned()),
            ConfigType::Int => ConfigValue::Int(trimmed.parse().ok()?),
            ConfigType::Long => ConfigValue::Long(trimmed.parse().ok()?),
            ConfigType::Double => {
                let d: f64 = trimmed.parse().ok()?;
                if d.is_nan() {
                    return None;
                }
                ConfigValue::Double(d)
            }
            ConfigType::Boolean => {
                if trimmed.eq_ignore_ascii_case("true") {
                    ConfigValue::Boolean(true)
                } else if trimmed.eq_ignore_ascii_case("false") {
                    ConfigValue::Boolean(false)
                } else {
                    return None;
                }
            }
            ConfigType::List if trimmed.is_empty() => ConfigValue::List(Vec::new()),
            ConfigType::List => {
                ConfigValue::List(trimmed.split(',').map(|s| s.trim().to_owned()).collect())
            }
        })
    }
}

impl fmt::Display for ConfigType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
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

impl fmt::Display for Importance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Importance::High => "high",
            Importance::Medium => "medium",
            Importance::Low => "low",
        })
    }
}

/// A secret value; `Debug` and `Display` print `[hidden]`. Only
/// [`Password::value`] gives the secret.
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
        f.write_str(HIDDEN)
    }
}
impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(HIDDEN)
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
    /// No value and no default (an optional key, see [`ConfigKey::optional`]).
    Null,
}

/// Shows the value as it would be written in a properties file; a password
/// shows as `[hidden]`, `Null` as `null`.
impl fmt::Display for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigValue::String(s) => f.write_str(s),
            ConfigValue::Int(i) => write!(f, "{i}"),
            ConfigValue::Long(l) => write!(f, "{l}"),
            ConfigValue::Double(d) => write!(f, "{d}"),
            ConfigValue::Boolean(b) => write!(f, "{b}"),
            ConfigValue::List(items) => f.write_str(&items.join(",")),
            ConfigValue::Password(p) => write!(f, "{p}"),
            ConfigValue::Null => f.write_str("null"),
        }
    }
}

/// A check on a parsed value. Validators also apply to defaults, never to
/// [`ConfigValue::Null`].
#[derive(Clone, Debug)]
pub enum Validator {
    /// Numeric range, inclusive; either bound may be open. For INT, LONG
    /// and DOUBLE keys only.
    Range {
        /// Lowest allowed.
        min: Option<f64>,
        /// Highest allowed.
        max: Option<f64>,
    },
    /// String must not be empty or blank; a LIST must have at least one
    /// item and no empty item.
    NonEmptyString,
    /// One of the listed strings (case-insensitive); for a LIST, every item.
    OneOf(Vec<String>),
    /// A string that is safe as one file name (a connector's `name` names
    /// its snapshot directory): 1 to [`MAX_FILE_NAME_BYTES`] bytes, no
    /// `/`, `\\` or control characters (NUL included), not `.` or `..`, no
    /// leading or trailing whitespace.
    FileName,
}

/// The longest value [`Validator::FileName`] accepts, in bytes.
pub const MAX_FILE_NAME_BYTES: usize = 200;

/// Why `name` is not a safe file name, if it is not.
fn file_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".into());
    }
    if name.len() > MAX_FILE_NAME_BYTES {
        return Some(format!(
            "must be at most {MAX_FILE_NAME_BYTES} bytes, got {}",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Some(format!("must not be `{name}`: it names a directory"));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Some(format!(
            "must not contain control characters, got {:?} (U+{:04X})",
            name,
            u32::from(c)
        ));
    }
    if name.contains(['/', '\\']) {
        return Some(format!(
            "must not contain `/` or `\\` (it names a directory), got `{name}`"
        ));
    }
    if name.trim() != name {
        return Some(format!(
            "must not start or end with whitespace, got `{name}`"
        ));
    }
    None
}

impl Validator {
    /// `Range` with only a lower bound.
    pub fn at_least(min: f64) -> Self {
        Validator::Range {
            min: Some(min),
            max: None,
        }
    }

    /// `Range` with both bounds.
    pub fn between(min: f64, max: f64) -> Self {
        Validator::Range {
            min: Some(min),
            max: Some(max),
        }
    }

    /// `OneOf` from string slices.
    pub fn one_of(allowed: &[&str]) -> Self {
        Validator::OneOf(allowed.iter().map(|s| (*s).to_owned()).collect())
    }

    /// Checks `value` of a key of type `ty`. `Some(message)`: what is
    /// wrong. The message quotes the value unless it is a password.
    fn check(&self, ty: ConfigType, value: &ConfigValue) -> Option<String> {
        let got = |text: &str| match value {
            ConfigValue::Password(_) => String::new(),
            _ => format!(", got `{text}`"),
        };
        match self {
            Validator::Range { min, max } => {
                let n = match value {
                    ConfigValue::Int(i) => f64::from(*i),
                    // Precision loss above 2^53 is irrelevant for bounds.
                    ConfigValue::Long(l) => *l as f64,
                    ConfigValue::Double(d) => *d,
                    _ => {
                        return Some(format!(
                            "a range check does not apply to type {ty} (a bug in the definition)"
                        ))
                    }
                };
                let bound = match (min, max) {
                    (Some(min), Some(max)) => format!("between {min} and {max}"),
                    (Some(min), None) => format!("at least {min}"),
                    (None, Some(max)) => format!("at most {max}"),
                    (None, None) => return None,
                };
                let below = min.is_some_and(|min| n < min);
                let above = max.is_some_and(|max| n > max);
                (below || above).then(|| format!("must be {bound}{}", got(&value.to_string())))
            }
            Validator::NonEmptyString => match value {
                ConfigValue::String(s) if s.trim().is_empty() => Some("must not be empty".into()),
                ConfigValue::Password(p) if p.value().trim().is_empty() => {
                    Some("must not be empty".into())
                }
                ConfigValue::List(items) if items.is_empty() => Some("must not be empty".into()),
                ConfigValue::List(items) if items.iter().any(|i| i.is_empty()) => Some(format!(
                    "list items must not be empty{}",
                    got(&items.join(","))
                )),
                ConfigValue::String(_) | ConfigValue::Password(_) | ConfigValue::List(_) => None,
                _ => Some(format!(
                    "a non-empty check does not apply to type {ty} (a bug in the definition)"
                )),
            },
            Validator::FileName => match value {
                ConfigValue::String(s) => file_name_problem(s),
                _ => Some(format!(
                    "a file-name check does not apply to type {ty} (a bug in the definition)"
                )),
            },
            Validator::OneOf(allowed) => {
                let ok = |s: &str| allowed.iter().any(|a| a.eq_ignore_ascii_case(s));
                let list = allowed.join(", ");
                match value {
                    ConfigValue::List(items) => {
                        let bad: Vec<&str> = items
                            .iter()
                            .map(String::as_str)
                            .filter(|i| !ok(i))
                            .collect();
                        (!bad.is_empty()).then(|| {
                            format!(
                                "every item must be one of [{list}], got `{}`",
                                bad.join(",")
                            )
                        })
                    }
                    ConfigValue::Password(p) => (!ok(p.value()))
                        .then(|| format!("must be one of the allowed values [{list}]")),
                    other => {
                        let text = other.to_string();
                        (!ok(&text)).then(|| format!("must be one of [{list}]{}", got(&text)))
                    }
                }
            }
        }
    }
}

/// Describes the valid values, as the reference table shows them: Kafka's
/// `[1,...]` for ranges, `[a, b]` for choices.
impl fmt::Display for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Validator::Range { min, max } => match (min, max) {
                (Some(min), Some(max)) => write!(f, "[{min},...,{max}]"),
                (Some(min), None) => write!(f, "[{min},...]"),
                (None, Some(max)) => write!(f, "[...,{max}]"),
                (None, None) => f.write_str("any number"),
            },
            Validator::NonEmptyString => f.write_str("non-empty string"),
            Validator::OneOf(allowed) => write!(f, "[{}]", allowed.join(", ")),
            Validator::FileName => f.write_str("a file name"),
        }
    }
}

/// One key's definition.
#[derive(Clone)]
pub struct ConfigKey {
    /// Key name.
    pub name: String,
    /// Type.
    pub config_type: ConfigType,
    /// Default, as the text a user would write (`None`: the key is
    /// required, unless [`ConfigKey::optional`] is set).
    pub default: Option<String>,
    /// `true`: without a value and without a default the key parses to
    /// [`ConfigValue::Null`] instead of being reported missing.
    pub optional: bool,
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

impl ConfigKey {
    /// A required key (add a default with [`ConfigKey::default_value`], or
    /// make it optional with [`ConfigKey::optional`]).
    pub fn new(
        name: &str,
        config_type: ConfigType,
        importance: Importance,
        documentation: &str,
    ) -> Self {
        ConfigKey {
            name: name.to_owned(),
            config_type,
            default: None,
            optional: false,
            importance,
            documentation: documentation.to_owned(),
            validators: Vec::new(),
            group: None,
            order: 0,
        }
    }

    /// Sets the default, as the text a user would write; it is parsed and
    /// validated like a value the user gave.
    pub fn default_value(mut self, default: &str) -> Self {
        self.default = Some(default.to_owned());
        self
    }

    /// Makes the key optional without a default: unset, it parses to
    /// [`ConfigValue::Null`] (and the typed getters of [`ParsedConfig`]
    /// give `None`). No effect on a key with a default.
    pub fn optional(mut self) -> Self {
        self.optional = true;
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

    /// `true` if the key must be set: no default and not optional.
    pub fn is_required(&self) -> bool {
        self.default.is_none() && !self.optional
    }

    /// The default as it may be shown: `[hidden]` for a password.
    fn shown_default(&self) -> Option<&str> {
        match (&self.default, self.config_type) {
            (Some(_), ConfigType::Password) => Some(HIDDEN),
            (Some(d), _) => Some(d),
            (None, _) => None,
        }
    }

    /// Parses and validates this key's value in `props`.
    fn parse_from(&self, props: &Properties) -> Result<ConfigValue, Vec<ConfigIssue>> {
        let issue = |message: String| ConfigIssue::new(&self.name, message);
        let (text, from_default) = match (props.get(&self.name), &self.default) {
            (Some(text), _) => (text.as_str(), false),
            (None, Some(default)) => (default.as_str(), true),
            (None, None) if self.optional => return Ok(ConfigValue::Null),
            (None, None) => {
                return Err(vec![issue(
                    "missing required configuration, which has no default value".to_owned(),
                )])
            }
        };
        let Some(value) = self.config_type.parse(text) else {
            let expected = format!("expected {}, got `{text}`", self.config_type);
            return Err(vec![issue(if from_default {
                format!("invalid default value: {expected} (a bug in the definition)")
            } else {
                expected
            })]);
        };
        let problems: Vec<ConfigIssue> = self
            .validators
            .iter()
            .filter_map(|v| v.check(self.config_type, &value))
            .map(|m| {
                issue(if from_default {
                    format!("default value {m}")
                } else {
                    m
                })
            })
            .collect();
        if problems.is_empty() {
            Ok(value)
        } else {
            Err(problems)
        }
    }
}

/// Like the derived one, but a password key's default shows as `[hidden]`.
impl fmt::Debug for ConfigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigKey")
            .field("name", &self.name)
            .field("config_type", &self.config_type)
            .field("default", &self.shown_default())
            .field("optional", &self.optional)
            .field("importance", &self.importance)
            .field("documentation", &self.documentation)
            .field("validators", &self.validators)
            .field("group", &self.group)
            .field("order", &self.order)
            .finish()
    }
}

/// A problem with one key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigIssue {
    /// The key.
    pub key: String,
    /// What is wrong (never contains a password).
    pub message: String,
}

impl ConfigIssue {
    /// An issue with `key` (for checks a connector makes across keys).
    pub fn new(key: &str, message: impl Into<String>) -> Self {
        ConfigIssue {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// Every problem of a configuration, as one error (for `?`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {}", join_issues(.issues))]
pub struct InvalidConfig {
    /// The problems, in definition order.
    pub issues: Vec<ConfigIssue>,
}

impl From<Vec<ConfigIssue>> for InvalidConfig {
    fn from(issues: Vec<ConfigIssue>) -> Self {
        InvalidConfig { issues }
    }
}

fn join_issues(issues: &[ConfigIssue]) -> String {
    let parts: Vec<String> = issues.iter().map(ToString::to_string).collect();
    parts.join("; ")
}

/// A set of key definitions (Kafka's `ConfigDef`).
///
/// ```
/// use timely_connect::config::{
///     ConfigDef, ConfigKey, ConfigType, ConfigValue, Importance, Properties, Validator,
/// };
///
/// let def = ConfigDef::new()
///     .define(ConfigKey::new("path", ConfigType::String, Importance::High, "File to read."))
///     .define(
///         ConfigKey::new("batch.size", ConfigType::Int, Importance::Low, "Records per poll.")
///             .default_value("100")
///             .validator(Validator::at_least(1.0)),
///     )
///     .define(ConfigKey::new("topic", ConfigType::String, Importance::Medium, "Topic.").optional());
///
/// let mut props = Properties::new();
/// props.insert("path".into(), "/tmp/in.txt".into());
/// let config = def.parse(&props).unwrap();
/// assert_eq!(config.string("path"), Some("/tmp/in.txt"));
/// assert_eq!(config.int("batch.size"), Some(100));
/// assert_eq!(config.get("topic"), Some(&ConfigValue::Null));
///
/// // Every problem at once.
/// props.remove("path");
/// props.insert("batch.size".into(), "0".into());
/// let issues = def.parse(&props).unwrap_err();
/// assert_eq!(issues.len(), 2);
/// assert_eq!(issues[0].key, "path");
/// assert_eq!(issues[1].to_string(), "batch.size: must be at least 1, got `0`");
/// ```
#[derive(Clone, Debug, Default)]
pub struct ConfigDef {
    keys: Vec<ConfigKey>,
}

impl ConfigDef {
    /// An empty definition.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key. A key of the same name defined before is replaced, in
    /// Adds every key of `keys`, in order (see [`ConfigDef::define`]).
    pub fn define_each(self, keys: impl IntoIterator<Item = ConfigKey>) -> Self {
        keys.into_iter().fold(self, ConfigDef::define)
    }

    /// its place.
    pub fn define(mut self, key: ConfigKey) -> Self {
        match self.keys.iter_mut().find(|k| k.name == key.name) {
            Some(existing) => *existing = key,
            None => self.keys.push(key),
        }
        self
    }

    /// Adds all of `other`'s keys; where both define a key, `other`'s
    /// definition wins (so a connector can narrow a shared key, e.g.
    /// `common.merge(mine)`).
    pub fn merge(self, other: ConfigDef) -> Self {
        other.keys.into_iter().fold(self, ConfigDef::define)
    }

    /// The keys, in definition order.
    pub fn keys(&self) -> &[ConfigKey] {
        &self.keys
    }

    /// The definition of `name`.
    pub fn key(&self, name: &str) -> Option<&ConfigKey> {
        self.keys.iter().find(|k| k.name == name)
    }

    /// Parses and validates `props`, returning every problem at once, in
    /// definition order. Keys not defined here are ignored (left for
    /// others to check).
    pub fn parse(&self, props: &Properties) -> Result<ParsedConfig, Vec<ConfigIssue>> {
        let mut values = BTreeMap::new();
        let mut issues = Vec::new();
        for key in &self.keys {
            match key.parse_from(props) {
                Ok(value) => {
                    values.insert(key.name.clone(), value);
                }
                Err(problems) => issues.extend(problems),
            }
        }
        if issues.is_empty() {
            Ok(ParsedConfig { values })
        } else {
            Err(issues)
        }
    }

    /// `props` with the value of every PASSWORD key replaced by
    /// `[hidden]`; safe to store or print. Other keys are kept as they are.
    pub fn redact(&self, props: &Properties) -> Properties {
        let mut redacted = props.clone();
        for key in &self.keys {
            if key.config_type == ConfigType::Password {
                if let Some(value) = redacted.get_mut(&key.name) {
                    *value = HIDDEN.to_owned();
                }
            }
        }
        redacted
    }

    /// A Markdown reference: one table per group (groups in the order they
    /// are first defined, keys by their order within the group; keys
    /// without a group last, under "Other"), with each key's type, default,
    /// valid values, importance and documentation.
    pub fn to_markdown(&self) -> String {
        let mut groups: Vec<Option<&str>> = Vec::new();
        for key in &self.keys {
            let group = key.group.as_deref();
            if group.is_some() && !groups.contains(&group) {
                groups.push(group);
            }
        }
        if self.keys.iter().any(|k| k.group.is_none()) {
            groups.push(None);
        }
        let headings = groups != [None];
        let mut out = String::new();
        for group in groups {
            if headings {
                out.push_str("### ");
                out.push_str(group.unwrap_or("Other"));
                out.push_str("\n\n");
            }
            out.push_str("| Key | Type | Default | Valid values | Importance | Description |\n");
            out.push_str("|---|---|---|---|---|---|\n");
            let mut keys: Vec<&ConfigKey> = self
                .keys
                .iter()
                .filter(|k| k.group.as_deref() == group)
                .collect();
            keys.sort_by_key(|k| k.order);
            for key in keys {
                let default = match key.shown_default() {
                    Some(d) => code(d),
                    None if key.optional => "*none*".to_owned(),
                    None => "*required*".to_owned(),
                };
                let valid: Vec<String> = key.validators.iter().map(|v| v.to_string()).collect();
                let cells = [
                    code(&key.name),
                    key.config_type.to_string(),
                    default,
                    cell(&valid.join("; ")),
                    key.importance.to_string(),
                    cell(&key.documentation),
                ];
                out.push_str("| ");
                out.push_str(&cells.join(" | "));
                out.push_str(" |\n");
            }
            out.push('\n');
        }
        out
    }
}

/// Text fit for a Markdown table cell: one line, pipes escaped.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// A code span for a table cell, with a fence longer than any backtick run
/// inside; `""` for the empty string.
fn code(text: &str) -> String {
    if text.is_empty() {
        return "`\"\"`".to_owned();
    }
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if longest > 0 { " " } else { "" };
    let one_line = text.replace(['\n', '\r'], " ").replace('|', "\\|");
    format!("{fence}{pad}{one_line}{pad}{fence}")
}

/// Validated configuration values: one per defined key (`Null` for an
/// optional key without a value). `Debug` hides passwords.
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

    /// All values, by key.
    pub fn values(&self) -> impl Iterator<Item = (&str, &ConfigValue)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::test_props as props;

    fn key(name: &str, ty: ConfigType) -> ConfigKey {
        ConfigKey::new(name, ty, Importance::Medium, "doc")
    }

    fn messages(def: &ConfigDef, p: &Properties) -> Vec<String> {
        def.parse(p)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn parse_reports_every_problem_at_once() {
        let def = ConfigDef::new()
            .define(key("required", ConfigType::String))
            .define(key("count", ConfigType::Int).default_value("1"))
            .define(key("port", ConfigType::Int).validator(Validator::between(1.0, 65535.0)))
            .define(key("label", ConfigType::String).validator(Validator::NonEmptyString))
            .define(key("mode", ConfigType::String).validator(Validator::one_of(&["a", "b"])))
            .define(key("ok", ConfigType::Boolean).default_value("false"));
        let p = props(&[
            ("count", "abc"),
            ("port", "70000"),
            ("label", "  "),
            ("mode", "c"),
            ("someone.elses", "whatever"),
        ]);
        assert_eq!(
            messages(&def, &p),
            vec![
                "required: missing required configuration, which has no default value",
                "count: expected INT, got `abc`",
                "port: must be between 1 and 65535, got `70000`",
                "label: must not be empty",
                "mode: must be one of [a, b], got `c`",
            ]
        );
    }

    #[test]
    fn parse_reports_every_failing_validator_of_a_key() {
        let def = ConfigDef::new().define(
            key("x", ConfigType::String)
                .validator(Validator::NonEmptyString)
                .validator(Validator::one_of(&["a"])),
        );
        assert_eq!(messages(&def, &props(&[("x", "")])).len(), 2);
    }

    #[test]
    fn parse_types_like_kafka() {
        let def = ConfigDef::new()
            .define(key("s", ConfigType::String))
            .define(key("i", ConfigType::Int))
            .define(key("l", ConfigType::Long))
            .define(key("d", ConfigType::Double))
            .define(key("b", ConfigType::Boolean))
            .define(key("list", ConfigType::List))
            .define(key("empty", ConfigType::List))
            .define(key("p", ConfigType::Password))
            .define(key("c", ConfigType::Class));
        let p = props(&[
            ("s", " text "),
            ("i", " -42 "),
            ("l", "9000000000"),
            ("d", "2.5"),
            ("b", "TRUE"),
            ("list", " a , b,c "),
            ("empty", "  "),
            ("p", "secret"),
            ("c", " com.example.Source "),
        ]);
        let c = def.parse(&p).unwrap();
        assert_eq!(c.string("s"), Some(" text "));
        assert_eq!(c.int("i"), Some(-42));
        assert_eq!(c.long("l"), Some(9_000_000_000));
        assert_eq!(c.double("d"), Some(2.5));
        assert_eq!(c.boolean("b"), Some(true));
        assert_eq!(
            c.list("list"),
            Some(&["a".to_owned(), "b".into(), "c".into()][..])
        );
        assert_eq!(c.list("empty"), Some(&[][..]));
        assert_eq!(c.password("p").map(Password::value), Some("secret"));
        assert_eq!(c.string("c"), Some("com.example.Source"));
        // Wrong-typed getters give None.
        assert_eq!(c.int("s"), None);
        assert_eq!(c.string("missing"), None);
    }

    #[test]
    fn parse_rejects_values_of_the_wrong_type() {
        let def = ConfigDef::new()
            .define(key("i", ConfigType::Int))
            .define(key("l", ConfigType::Long))
            .define(key("d", ConfigType::Double))
            .define(key("b", ConfigType::Boolean));
        let p = props(&[
            ("i", "3000000000"),
            ("l", "1.5"),
            ("d", "NaN"),
            ("b", "yes"),
        ]);
        assert_eq!(
            messages(&def, &p),
            vec![
                "i: expected INT, got `3000000000`",
                "l: expected LONG, got `1.5`",
                "d: expected DOUBLE, got `NaN`",
                "b: expected BOOLEAN, got `yes`",
            ]
        );
    }

    #[test]
    fn defaults_are_parsed_and_validated_like_values() {
        let def = ConfigDef::new()
            .define(key("s", ConfigType::String).default_value(""))
            .define(key("n", ConfigType::Long).default_value("-1"))
            .define(key("l", ConfigType::List).default_value("x, y"));
        let c = def.parse(&Properties::new()).unwrap();
        assert_eq!(c.string("s"), Some(""));
        assert_eq!(c.long("n"), Some(-1));
        assert_eq!(c.list("l").map(<[String]>::len), Some(2));

        let broken = ConfigDef::new()
            .define(key("n", ConfigType::Int).default_value("ten"))
            .define(
                key("m", ConfigType::Int)
                    .default_value("0")
                    .validator(Validator::at_least(1.0)),
            );
        let m = messages(&broken, &Properties::new());
        assert!(
            m[0].contains("invalid default value: expected INT, got `ten`"),
            "{m:?}"
        );
        assert!(m[1].contains("default value must be at least 1"), "{m:?}");
    }

    #[test]
    fn optional_key_without_default_is_null() {
        let def = ConfigDef::new().define(
            key("o", ConfigType::Int)
                .optional()
                .validator(Validator::at_least(1.0)),
        );
        let c = def.parse(&Properties::new()).unwrap();
        assert_eq!(c.get("o"), Some(&ConfigValue::Null));
        assert_eq!(c.int("o"), None);
        let c = def.parse(&props(&[("o", "5")])).unwrap();
        assert_eq!(c.int("o"), Some(5));
        assert!(def.parse(&props(&[("o", "0")])).is_err());
    }

    #[test]
    fn list_validators_check_every_item() {
        let def = ConfigDef::new()
            .define(key("l", ConfigType::List).validator(Validator::one_of(&["a", "B"])))
            .define(key("n", ConfigType::List).validator(Validator::NonEmptyString));
        assert!(def.parse(&props(&[("l", "A,b"), ("n", "x")])).is_ok());
        assert_eq!(
            messages(&def, &props(&[("l", "a,c,d"), ("n", "x,,y")])),
            vec![
                "l: every item must be one of [a, B], got `c,d`",
                "n: list items must not be empty, got `x,,y`",
            ]
        );
        assert_eq!(
            messages(&def, &props(&[("l", "a"), ("n", "")])),
            vec!["n: must not be empty"]
        );
    }

    #[test]
    fn password_never_appears_in_errors_or_debug() {
        let secret = "hunter2-s3cret";
        let def = ConfigDef::new()
            .define(
                ConfigKey::new(
                    "db.password",
                    ConfigType::Password,
                    Importance::High,
                    "Secret.",
                )
                .validator(Validator::one_of(&["a", "b"]))
                .validator(Validator::NonEmptyString),
            )
            .define(key("other.password", ConfigType::Password).default_value(secret))
            .define(key("user", ConfigType::String));
        let p = props(&[("db.password", secret), ("user", "bob")]);

        let issues = def.parse(&p).unwrap_err();
        assert_eq!(issues.len(), 1);
        let shown = format!("{issues:?} {}", InvalidConfig::from(issues.clone()));
        assert!(!shown.contains(secret), "{shown}");

        let ok = ConfigDef::new()
            .define(key("db.password", ConfigType::Password))
            .define(key("other.password", ConfigType::Password).default_value(secret));
        let parsed = ok.parse(&p).unwrap();
        assert_eq!(parsed.password("db.password").unwrap().value(), secret);
        let value = parsed.get("db.password").unwrap();
        for text in [
            format!("{parsed:?}"),
            format!("{value:?}"),
            format!("{value}"),
            format!("{}", parsed.password("db.password").unwrap()),
            format!("{def:?}"),
            def.to_markdown(),
            format!("{:?}", def.redact(&p)),
        ] {
            assert!(!text.contains(secret), "{text}");
        }
        let redacted = def.redact(&p);
        assert_eq!(redacted["db.password"], HIDDEN);
        assert_eq!(redacted["user"], "bob");
    }

    #[test]
    fn redact_hides_only_password_keys() {
        let def = ConfigDef::new()
            .define(key("p", ConfigType::Password))
            .define(key("s", ConfigType::String));
        let r = def.redact(&props(&[("p", "x"), ("s", "y"), ("undefined", "z")]));
        assert_eq!(r, props(&[("p", HIDDEN), ("s", "y"), ("undefined", "z")]));
    }

    #[test]
    fn define_replaces_and_merge_lets_other_win() {
        let common = ConfigDef::new()
            .define(key("a", ConfigType::Int).default_value("1"))
            .define(key("b", ConfigType::Int));
        let mine = ConfigDef::new()
            .define(key("a", ConfigType::Int).default_value("2"))
            .define(key("c", ConfigType::String));
        let merged = common.merge(mine);
        let names: Vec<&str> = merged.keys().iter().map(|k| k.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(
            merged.key("a").and_then(|k| k.default.as_deref()),
            Some("2")
        );
        assert!(merged.key("zzz").is_none());
        assert!(merged.key("b").unwrap().is_required());
    }

    #[test]
    fn markdown_reference_groups_keys_in_order() {
        let def = ConfigDef::new()
            .define(
                ConfigKey::new(
                    "tasks.max",
                    ConfigType::Int,
                    Importance::High,
                    "Most | tasks.",
                )
                .default_value("1")
                .validator(Validator::at_least(1.0))
                .group("Common", 2),
            )
            .define(
                ConfigKey::new("name", ConfigType::String, Importance::High, "The name.")
                    .validator(Validator::NonEmptyString)
                    .group("Common", 1),
            )
            .define(key("loose", ConfigType::String).default_value(""))
            .define(
                key("mode", ConfigType::String)
                    .default_value("a")
                    .validator(Validator::one_of(&["a", "b"]))
                    .group("Behaviour", 1),
            )
            .define(
                key("opt", ConfigType::Class)
                    .optional()
                    .group("Behaviour", 2),
            );
        let md = def.to_markdown();
        let expected = "\
### Common

| Key | Type | Default | Valid values | Importance | Description |
|---|---|---|---|---|---|
| `name` | STRING | *required* | non-empty string | high | The name. |
| `tasks.max` | INT | `1` | [1,...] | high | Most \\| tasks. |

### Behaviour

| Key | Type | Default | Valid values | Importance | Description |
|---|---|---|---|---|---|
| `mode` | STRING | `a` | [a, b] | medium | doc |
| `opt` | CLASS | *none* |  | medium | doc |

### Other

| Key | Type | Default | Valid values | Importance | Description |
|---|---|---|---|---|---|
| `loose` | STRING | `\"\"` |  | medium | doc |

";
        assert_eq!(md, expected);
    }

    #[test]
    fn markdown_without_groups_has_no_heading() {
        let md = ConfigDef::new()
            .define(key("a", ConfigType::String).default_value("x`y"))
            .to_markdown();
        assert!(md.starts_with("| Key |"), "{md}");
        assert!(md.contains("| `` x`y `` |"), "{md}");
    }

    #[test]
    fn file_name_validator_refuses_names_that_escape_or_break_paths() {
        let def = ConfigDef::new().define(
            ConfigKey::new("name", ConfigType::String, Importance::High, "n")
                .validator(Validator::FileName),
        );
        let check = |v: &str| {
            let mut p = Properties::new();
            p.insert("name".into(), v.into());
            def.parse(&p).err().map(|issues| issues[0].to_string())
        };
        for ok in ["orders", "local-file-source", "a.b_c d", "été", ".hidden"] {
            assert_eq!(check(ok), None, "{ok}");
        }
        let long = "x".repeat(MAX_FILE_NAME_BYTES + 1);
        for (bad, says) in [
            ("../..", "`/`"),
            ("a/b", "`/`"),
            ("a\\b", "`/`"),
            ("..", "names a directory"),
            (".", "names a directory"),
            ("nul\0here", "control characters"),
            ("tab\there", "control characters"),
            (" padded", "whitespace"),
            (long.as_str(), "at most 200 bytes"),
        ] {
            let issue = check(bad).unwrap_or_else(|| panic!("`{bad}` was accepted"));
            assert!(
                issue.contains("name") && issue.contains(says),
                "{bad}: {issue}"
            );
        }
    }
}
