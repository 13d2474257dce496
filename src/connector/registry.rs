//! Finds connectors by class name. A connector is registered with its own
//! class name and the Java class names of its Kafka equivalents as aliases,
//! so a `.properties` file written for Kafka Connect works unchanged.

use std::sync::Arc;

use super::api::SourceConnector;
use crate::convert::ConverterRegistry;
use crate::transforms::TransformRegistry;

/// Makes a new, unstarted connector.
pub type ConnectorFactory = Arc<dyn Fn() -> Box<dyn SourceConnector> + Send + Sync>;

/// One registered connector.
#[derive(Clone)]
pub struct Plugin {
    /// The class name (`FileStreamSource`).
    pub class: String,
    /// Other names accepted for `connector.class`
    /// (`org.apache.kafka.connect.file.FileStreamSourceConnector`).
    pub aliases: Vec<String>,
    /// One line on what it does.
    pub summary: String,
    factory: ConnectorFactory,
}

impl Plugin {
    /// Whether `name` is this plugin's class name or one of its aliases.
    pub fn matches(&self, name: &str) -> bool {
        self.class == name || self.aliases.iter().any(|a| a == name)
    }

    /// A new connector instance.
    pub fn create(&self) -> Box<dyn SourceConnector> {
        (self.factory)()
    }
}

/// The plugins a job can name: connectors (`connector.class`), converters
/// (`key.converter`, `value.converter`, `header.converter`), and
/// transforms and predicates (`transforms.<alias>.type`,
/// `predicates.<alias>.type`) — Kafka Connect's plugin path, in code.
///
/// ```
/// use timely_connect::connector::Registry;
/// let registry = Registry::builtin();
/// assert!(registry.find("FileStreamSource").is_some());
/// assert!(registry.find("org.apache.kafka.connect.file.FileStreamSourceConnector").is_some());
/// assert!(registry.find("NoSuchConnector").is_none());
/// ```
#[derive(Clone, Default)]
pub struct Registry {
    plugins: Vec<Plugin>,
    transforms: TransformRegistry,
    converters: ConverterRegistry,
}

impl Registry {
    /// A registry with nothing in it.
    pub fn empty() -> Self {
        Self::default()
    }

    /// A registry with the built-in connectors, transforms and predicates.
    pub fn builtin() -> Self {
        let mut r = Registry {
            plugins: Vec::new(),
            transforms: TransformRegistry::builtin(),
            converters: ConverterRegistry::builtin(),
        };
        crate::connectors::register_builtin(&mut r);
        r
    }

    /// The converters.
    pub fn converters(&self) -> &ConverterRegistry {
        &self.converters
    }

    /// The converters, to register your own ([`ConverterRegistry::register`]).
    pub fn converters_mut(&mut self) -> &mut ConverterRegistry {
        &mut self.converters
    }

    /// The transforms and predicates.
    pub fn transforms(&self) -> &TransformRegistry {
        &self.transforms
    }

    /// The transforms and predicates, to register your own
    /// ([`TransformRegistry::register_transform`]).
    pub fn transforms_mut(&mut self) -> &mut TransformRegistry {
        &mut self.transforms
    }

    /// Registers a connector under `class` and `aliases`.
    pub fn register(
        &mut self,
        class: &str,
        aliases: &[&str],
        summary: &str,
        factory: impl Fn() -> Box<dyn SourceConnector> + Send + Sync + 'static,
    ) -> &mut Self {
        self.plugins.push(Plugin {
            class: class.to_owned(),
            aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
            summary: summary.to_owned(),
            factory: Arc::new(factory),
        });
        self
    }

    /// The plugin registered under `name` (class name or alias).
    pub fn find(&self, name: &str) -> Option<&Plugin> {
        self.plugins.iter().find(|p| p.matches(name))
    }

    /// Every plugin, in registration order.
    pub fn plugins(&self) -> &[Plugin] {
        &self.plugins
    }
}
