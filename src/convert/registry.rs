//! Finding converters by name and configuring them from a connector's
//! properties: [`ConverterRegistry`] and [`ConverterConfig`].
//!
//! Names are our short names (`JsonConverter`) or Kafka's Java class
//! names (`org.apache.kafka.connect.json.JsonConverter`), so a Kafka
//! Connect `.properties` file works unchanged:
//!
//! | Short name              | Java class                                                |
//! |-------------------------|-----------------------------------------------------------|
//! | `JsonConverter`         | `org.apache.kafka.connect.json.JsonConverter`             |
//! | `StringConverter`       | `org.apache.kafka.connect.storage.StringConverter`        |
//! | `ByteArrayConverter`    | `org.apache.kafka.connect.converters.ByteArrayConverter`  |
//! | `SimpleHeaderConverter` | `org.apache.kafka.connect.storage.SimpleHeaderConverter` (header converter only) |
//! | `AvroConverter`         | `io.confluent.connect.avro.AvroConverter`                 |

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{
    ByteArrayConverter, Converter, ConverterFactory, HeaderConverter, HeaderConverterFactory,
    JsonConverter, SimpleHeaderConverter, StringConverter,
};
use crate::config::{ConfigIssue, InvalidConfig, Properties};

/// `key.converter`: the converter for record keys.
pub const KEY_CONVERTER_CONFIG: &str = "key.converter";
/// `value.converter`: the converter for record values.
pub const VALUE_CONVERTER_CONFIG: &str = "value.converter";
/// `header.converter`: the converter for header values
/// (default `SimpleHeaderConverter`, as in Kafka).
pub const HEADER_CONVERTER_CONFIG: &str = "header.converter";

/// Kafka's class name of the default header converter.
pub const SIMPLE_HEADER_CONVERTER_CLASS: &str =
    "org.apache.kafka.connect.storage.SimpleHeaderConverter";

#[derive(Clone)]
struct Entry<F> {
    class: Arc<str>,
    factory: F,
}

/// The converters that can be named in a configuration, by every name
/// they answer to. Cheap to clone (factories are shared).
///
/// ```
/// use timely_connect::convert::{ConverterRegistry, ConverterFactory, StringConverter};
/// use std::sync::Arc;
///
/// let mut registry = ConverterRegistry::builtin();
/// assert!(registry.find("org.apache.kafka.connect.json.JsonConverter").is_some());
/// assert!(registry.find("JsonConverter").is_some());
/// assert!(registry.find("com.example.Missing").is_none());
///
/// // A converter of your own, under its class name and a short alias.
/// let factory: ConverterFactory = Arc::new(|| Box::new(StringConverter::new()));
/// registry.register("com.example.MyConverter", &["MyConverter"], factory);
/// assert_eq!(registry.class_of("MyConverter"), Some("com.example.MyConverter"));
/// ```
#[derive(Clone, Default)]
pub struct ConverterRegistry {
    converters: BTreeMap<String, Entry<ConverterFactory>>,
    header_converters: BTreeMap<String, Entry<HeaderConverterFactory>>,
}

impl std::fmt::Debug for ConverterRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConverterRegistry")
            .field("converters", &self.converters.keys().collect::<Vec<_>>())
            .field(
                "header_converters",
                &self.header_converters.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl ConverterRegistry {
    /// A registry with nothing in it.
    pub fn new() -> Self {
        Self::default()
    }

    /// The built-in converters (see the module doc), each as a
    /// [`Converter`] and, as in Kafka, JSON, String and ByteArray also as
    /// a [`HeaderConverter`].
    pub fn builtin() -> Self {
        let mut r = Self::new();
        r.register_both(
            "org.apache.kafka.connect.json.JsonConverter",
            &["JsonConverter"],
            JsonConverter::new,
        );
        r.register_both(
            "org.apache.kafka.connect.storage.StringConverter",
            &["StringConverter"],
            StringConverter::new,
        );
        r.register_both(
            "org.apache.kafka.connect.converters.ByteArrayConverter",
            &["ByteArrayConverter"],
            ByteArrayConverter::new,
        );
        r.register_header(
            SIMPLE_HEADER_CONVERTER_CLASS,
            &["SimpleHeaderConverter"],
            Arc::new(|| Box::new(SimpleHeaderConverter::new())),
        );
        #[cfg(feature = "avro")]
        r.register(
            "io.confluent.connect.avro.AvroConverter",
            &["AvroConverter"],
            Arc::new(|| Box::new(super::avro::AvroConverter::new())),
        );
        r
    }

    fn register_both<C, F>(&mut self, class: &str, aliases: &[&str], make: F)
    where
        C: Converter + HeaderConverter + 'static,
        F: Fn() -> C + Send + Sync + Copy + 'static,
    {
        self.register(class, aliases, Arc::new(move || Box::new(make())));
        self.register_header(class, aliases, Arc::new(move || Box::new(make())));
    }

    /// Registers a converter under its class name and aliases; a name
    /// registered before is replaced.
    pub fn register(
        &mut self,
        class: &str,
        aliases: &[&str],
        factory: ConverterFactory,
    ) -> &mut Self {
        let class_name: Arc<str> = Arc::from(class);
        for name in std::iter::once(&class).chain(aliases) {
            self.converters.insert(
                (*name).to_owned(),
                Entry {
                    class: class_name.clone(),
                    factory: factory.clone(),
                },
            );
        }
        self
    }

    /// Registers a header converter under its class name and aliases.
    pub fn register_header(
        &mut self,
        class: &str,
        aliases: &[&str],
        factory: HeaderConverterFactory,
    ) -> &mut Self {
        let class_name: Arc<str> = Arc::from(class);
        for name in std::iter::once(&class).chain(aliases) {
            self.header_converters.insert(
                (*name).to_owned(),
                Entry {
                    class: class_name.clone(),
                    factory: factory.clone(),
                },
            );
        }
        self
    }

    /// The factory of the converter called `name` (class name or alias;
    /// surrounding spaces ignored).
    pub fn find(&self, name: &str) -> Option<ConverterFactory> {
        self.converters.get(name.trim()).map(|e| e.factory.clone())
    }

    /// The factory of the header converter called `name`.
    pub fn find_header(&self, name: &str) -> Option<HeaderConverterFactory> {
        self.header_converters
            .get(name.trim())
            .map(|e| e.factory.clone())
    }

    /// The class name `name` stands for (itself for a class name).
    pub fn class_of(&self, name: &str) -> Option<&str> {
        let name = name.trim();
        self.converters
            .get(name)
            .map(|e| &*e.class)
            .or_else(|| self.header_converters.get(name).map(|e| &*e.class))
    }

    /// Every name a [`Converter`] is registered under, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.converters.keys().map(String::as_str)
    }

    /// Every name a [`HeaderConverter`] is registered under, sorted.
    pub fn header_names(&self) -> impl Iterator<Item = &str> {
        self.header_converters.keys().map(String::as_str)
    }
}

/// One chosen converter: its class and its options (prefix removed).
#[derive(Clone)]
struct Chosen<F> {
    class: Arc<str>,
    factory: F,
    configs: Properties,
}

struct Inner {
    key: Option<Chosen<ConverterFactory>>,
    value: Option<Chosen<ConverterFactory>>,
    header: Chosen<HeaderConverterFactory>,
}

/// The converters a connector's properties choose, checked once and then
/// made as often as needed: each Timely worker calls
/// [`ConverterConfig::value_converter`] (etc.) for instances of its own.
/// `Clone` is an `Arc` copy; the type is `Send + Sync`.
///
/// - `key.converter` / `value.converter` unset: `None`, so callers keep
///   their own rendering of Connect values (Kafka would fall back to the
///   worker's converter; we have no worker configuration).
/// - `header.converter` unset: `SimpleHeaderConverter`, Kafka's default.
/// - Options: every key under `<role>.converter.` with the prefix removed
///   (`value.converter.schemas.enable=false` → `schemas.enable=false`).
///
/// ```
/// use timely_connect::config::Properties;
/// use timely_connect::convert::{ConverterConfig, ConverterRegistry};
/// use timely_connect::data::{Schema, Value};
///
/// let props: Properties = [
///     ("value.converter", "org.apache.kafka.connect.json.JsonConverter"),
///     ("value.converter.schemas.enable", "false"),
/// ]
/// .iter()
/// .map(|(k, v)| (k.to_string(), v.to_string()))
/// .collect();
/// let config = ConverterConfig::from_properties(&props, &ConverterRegistry::builtin())
///     .map_err(|issues| format!("{issues:?}"))?;
/// let mut value = config.value_converter()?.expect("value.converter is set");
/// let mut out = Vec::new();
/// value.from_connect("t", Some(&Schema::int32()), &Value::Int32(42), &mut out)?;
/// assert_eq!(out, b"42");
/// assert!(config.key_converter()?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ConverterConfig(Arc<Inner>);

impl std::fmt::Debug for ConverterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConverterConfig")
            .field("key", &self.key_class())
            .field("value", &self.value_class())
            .field("header", &self.header_class())
            .finish()
    }
}

/// The keys under `prefix.` with the prefix removed.
fn with_prefix(props: &Properties, prefix: &str) -> Properties {
    let dotted = format!("{prefix}.");
    props
        .range(dotted.clone()..)
        .take_while(|(k, _)| k.starts_with(&dotted))
        .map(|(k, v)| (k[dotted.len()..].to_owned(), v.clone()))
        .collect()
}

/// Prefixes each issue's key with `prefix.`.
fn prefixed(prefix: &str, issues: Vec<ConfigIssue>) -> impl Iterator<Item = ConfigIssue> + '_ {
    issues
        .into_iter()
        .map(move |i| ConfigIssue::new(&format!("{prefix}.{}", i.key), i.message))
}

fn unknown(key: &str, class: &str, known: Vec<&str>) -> ConfigIssue {
    ConfigIssue::new(
        key,
        format!(
            "unknown converter class `{class}`; known: {}",
            known.join(", ")
        ),
    )
}

impl ConverterConfig {
    /// Reads `key.converter`, `value.converter`, `header.converter` and
    /// their options from `props`, finds the classes in `registry` and
    /// configures one instance of each to check the options. Returns
    /// every problem at once: an unknown class names the key and the
    /// class, a bad option names the full key (`value.converter.decimal.format`).
    pub fn from_properties(
        props: &Properties,
        registry: &ConverterRegistry,
    ) -> Result<Self, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let mut role = |key: &str, is_key: bool| -> Option<Chosen<ConverterFactory>> {
            let class = props.get(key)?.trim();
            if class.is_empty() {
                issues.push(ConfigIssue::new(
                    key,
                    "must not be empty; leave the key out for none",
                ));
                return None;
            }
            let Some(factory) = registry.find(class) else {
                issues.push(unknown(key, class, registry.names().collect()));
                return None;
            };
            let configs = with_prefix(props, key);
            if let Err(problems) = factory().configure(&configs, is_key) {
                issues.extend(prefixed(key, problems));
                return None;
            }
            Some(Chosen {
                class: Arc::from(registry.class_of(class).unwrap_or(class)),
                factory,
                configs,
            })
        };
        let key = role(KEY_CONVERTER_CONFIG, true);
        let value = role(VALUE_CONVERTER_CONFIG, false);
        let header_class = props
            .get(HEADER_CONVERTER_CONFIG)
            .map_or(SIMPLE_HEADER_CONVERTER_CLASS, |c| c.trim());
        let default_header: HeaderConverterFactory =
            Arc::new(|| Box::new(SimpleHeaderConverter::new()));
        let header_factory = match registry.find_header(header_class) {
            Some(f) => Some(f),
            None if !props.contains_key(HEADER_CONVERTER_CONFIG) => Some(default_header),
            None => {
                issues.push(unknown(
                    HEADER_CONVERTER_CONFIG,
                    header_class,
                    registry.header_names().collect(),
                ));
                None
            }
        };
        let header = header_factory.and_then(|factory| {
            let configs = with_prefix(props, HEADER_CONVERTER_CONFIG);
            match factory().configure(&configs) {
                Ok(()) => Some(Chosen {
                    class: Arc::from(registry.class_of(header_class).unwrap_or(header_class)),
                    factory,
                    configs,
                }),
                Err(problems) => {
                    issues.extend(prefixed(HEADER_CONVERTER_CONFIG, problems));
                    None
                }
            }
        });
        match header {
            Some(header) if issues.is_empty() => {
                Ok(ConverterConfig(Arc::new(Inner { key, value, header })))
            }
            _ => Err(issues),
        }
    }

    fn make(
        chosen: Option<&Chosen<ConverterFactory>>,
        prefix: &str,
        is_key: bool,
    ) -> Result<Option<Box<dyn Converter>>, InvalidConfig> {
        let Some(c) = chosen else { return Ok(None) };
        let mut converter = (c.factory)();
        converter
            .configure(&c.configs, is_key)
            .map_err(|issues| InvalidConfig::from(prefixed(prefix, issues).collect::<Vec<_>>()))?;
        Ok(Some(converter))
    }

    /// A new, configured key converter; `None` when `key.converter` is
    /// unset. Errors only if the converter's `configure` changed its mind
    /// since [`ConverterConfig::from_properties`] checked it.
    pub fn key_converter(&self) -> Result<Option<Box<dyn Converter>>, InvalidConfig> {
        Self::make(self.0.key.as_ref(), KEY_CONVERTER_CONFIG, true)
    }

    /// A new, configured value converter; `None` when `value.converter`
    /// is unset.
    pub fn value_converter(&self) -> Result<Option<Box<dyn Converter>>, InvalidConfig> {
        Self::make(self.0.value.as_ref(), VALUE_CONVERTER_CONFIG, false)
    }

    /// A new, configured header converter (`SimpleHeaderConverter` unless
    /// `header.converter` names another).
    pub fn header_converter(&self) -> Result<Box<dyn HeaderConverter>, InvalidConfig> {
        let c = &self.0.header;
        let mut converter = (c.factory)();
        converter.configure(&c.configs).map_err(|issues| {
            InvalidConfig::from(prefixed(HEADER_CONVERTER_CONFIG, issues).collect::<Vec<_>>())
        })?;
        Ok(converter)
    }

    /// The key converter's class name, if one is set.
    pub fn key_class(&self) -> Option<&str> {
        self.0.key.as_ref().map(|c| &*c.class)
    }

    /// The value converter's class name, if one is set.
    pub fn value_class(&self) -> Option<&str> {
        self.0.value.as_ref().map(|c| &*c.class)
    }

    /// The header converter's class name.
    pub fn header_class(&self) -> &str {
        &self.0.header.class
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_props;
    use crate::data::{Schema, Value};

    fn assert_send_sync<T: Send + Sync + Clone>() {}

    #[test]
    fn config_is_send_sync_and_clone() {
        assert_send_sync::<ConverterConfig>();
        assert_send_sync::<ConverterRegistry>();
    }

    #[test]
    fn builtin_registry_knows_short_and_java_names() {
        let r = ConverterRegistry::builtin();
        for name in [
            "JsonConverter",
            "org.apache.kafka.connect.json.JsonConverter",
            "StringConverter",
            "org.apache.kafka.connect.storage.StringConverter",
            "ByteArrayConverter",
            "org.apache.kafka.connect.converters.ByteArrayConverter",
        ] {
            assert!(r.find(name).is_some(), "{name}");
            assert!(r.find_header(name).is_some(), "{name}");
        }
        assert!(r.find_header("SimpleHeaderConverter").is_some());
        assert!(r.find(SIMPLE_HEADER_CONVERTER_CLASS).is_none());
        assert_eq!(
            r.class_of("StringConverter"),
            Some("org.apache.kafka.connect.storage.StringConverter")
        );
        assert_eq!(
            r.class_of("SimpleHeaderConverter"),
            Some(SIMPLE_HEADER_CONVERTER_CLASS)
        );
    }

    #[test]
    fn java_class_names_and_prefixed_options_are_applied() {
        let props = test_props(&[
            (
                "key.converter",
                "org.apache.kafka.connect.storage.StringConverter",
            ),
            (
                "value.converter",
                "org.apache.kafka.connect.json.JsonConverter",
            ),
            ("value.converter.schemas.enable", "false"),
            ("value.converter.decimal.format", "NUMERIC"),
            ("value.converters.unrelated", "x"),
        ]);
        let config =
            ConverterConfig::from_properties(&props, &ConverterRegistry::builtin()).unwrap();
        assert_eq!(
            config.value_class(),
            Some("org.apache.kafka.connect.json.JsonConverter")
        );
        assert_eq!(config.header_class(), SIMPLE_HEADER_CONVERTER_CLASS);
        let worker_copy = config.clone();
        let mut value = worker_copy.value_converter().unwrap().unwrap();
        let mut out = Vec::new();
        let dec = crate::data::logical::decimal_schema(1);
        value
            .from_connect(
                "t",
                Some(&dec),
                &crate::data::logical::Decimal::new(15, 1).to_value(),
                &mut out,
            )
            .unwrap();
        assert_eq!(out, b"1.5");
        let mut key = config.key_converter().unwrap().unwrap();
        out.clear();
        key.from_connect("t", None, &Value::Int32(7), &mut out)
            .unwrap();
        assert_eq!(out, b"7");
        let mut header = config.header_converter().unwrap();
        out.clear();
        header
            .from_connect_header(
                "t",
                "h",
                Some(&Schema::boolean()),
                &Value::Boolean(true),
                &mut out,
            )
            .unwrap();
        assert_eq!(out, b"true");
    }

    #[test]
    fn unset_converters_are_none_and_header_defaults_to_simple() {
        let config =
            ConverterConfig::from_properties(&Properties::new(), &ConverterRegistry::new())
                .unwrap();
        assert!(config.key_converter().unwrap().is_none());
        assert!(config.value_converter().unwrap().is_none());
        assert!(config.header_converter().is_ok());
        assert_eq!(config.header_class(), SIMPLE_HEADER_CONVERTER_CLASS);
    }

    #[test]
    fn every_problem_is_reported_at_once_with_full_key_names() {
        let props = test_props(&[
            ("key.converter", "com.example.Nope"),
            ("value.converter", "JsonConverter"),
            ("value.converter.decimal.format", "HEX"),
            ("value.converter.schemas.enable", "perhaps"),
            ("header.converter", "com.example.NoHeader"),
        ]);
        let issues =
            ConverterConfig::from_properties(&props, &ConverterRegistry::builtin()).unwrap_err();
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "key.converter",
                "value.converter.schemas.enable",
                "value.converter.decimal.format",
                "header.converter"
            ]
        );
        assert!(
            issues[0].message.contains("com.example.Nope"),
            "{}",
            issues[0]
        );
        assert!(
            issues[3].message.contains("com.example.NoHeader"),
            "{}",
            issues[3]
        );
    }

    #[test]
    fn users_can_register_their_own_converters() {
        let mut registry = ConverterRegistry::builtin();
        registry.register(
            "com.example.Upper",
            &["Upper"],
            Arc::new(|| Box::new(StringConverter::new())),
        );
        let props = test_props(&[
            ("value.converter", "Upper"),
            ("value.converter.converter.encoding", "latin1"),
        ]);
        let config = ConverterConfig::from_properties(&props, &registry).unwrap();
        assert_eq!(config.value_class(), Some("com.example.Upper"));
        let bad = test_props(&[
            ("value.converter", "com.example.Upper"),
            ("value.converter.converter.encoding", "klingon"),
        ]);
        let issues = ConverterConfig::from_properties(&bad, &registry).unwrap_err();
        assert_eq!(issues[0].key, "value.converter.converter.encoding");
    }
}
