//! Finds connectors by class name. A connector is registered with its own
//! class name and the Java class names of its Kafka equivalents as aliases,
//! so a `.properties` file written for Kafka Connect works unchanged.

use std::sync::Arc;

use super::api::SourceConnector;
use crate::config::Properties;
use crate::convert::ConverterRegistry;
use crate::transforms::TransformRegistry;

/// Makes a new, unstarted connector.
pub type ConnectorFactory = Arc<dyn Fn() -> Box<dyn SourceConnector> + Send + Sync>;

/// Finds a connector the registry does not hold itself — the JVM bridge's
/// Java connectors — from `connector.class` and the job's properties
/// (`plugin.path`, `jvm.*`). `Err` explains why the class cannot run.
pub type ConnectorResolver = Arc<dyn Fn(&str, &Properties) -> Result<Plugin, String> + Send + Sync>;

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
    /// A plugin made by `factory`, named `class` and `aliases`.
    pub fn new(
        class: &str,
        aliases: &[&str],
        summary: &str,
        factory: impl Fn() -> Box<dyn SourceConnector> + Send + Sync + 'static,
    ) -> Plugin {
        Plugin {
            class: class.to_owned(),
            aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
            summary: summary.to_owned(),
            factory: Arc::new(factory),
        }
    }

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
    resolver: Option<ConnectorResolver>,
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
            resolver: None,
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
        self.plugins
            .push(Plugin::new(class, aliases, summary, factory));
        self
    }

    /// Sets the resolver [`Registry::resolve`] asks for classes the
    /// registry does not hold (the JVM bridge installs one).
    pub fn set_resolver(&mut self, resolver: ConnectorResolver) -> &mut Self {
        self.resolver = Some(resolver);
        self
    }

    /// Whether a resolver for other classes (Java connectors) is set.
    pub fn has_resolver(&self) -> bool {
        self.resolver.is_some()
    }

    /// The connector `connector.class` names, honouring `connector.runtime`
    /// in `props`: `auto` (the default) takes a registered native
    /// connector and otherwise asks the resolver; `native` takes only a
    /// registered one; `jvm` only asks the resolver.
    ///
    /// ```
    /// use timely_connect::{connector::Registry, Properties};
    /// let registry = Registry::builtin();
    /// let props = Properties::new();
    /// let p = registry.resolve("org.apache.kafka.connect.file.FileStreamSourceConnector", &props).unwrap();
    /// assert_eq!(p.class, "FileStreamSource");
    /// let err = registry.resolve("com.example.Nope", &props).err().unwrap();
    /// assert!(err.contains("unknown connector class `com.example.Nope`"), "{err}");
    /// ```
    pub fn resolve(&self, class: &str, props: &Properties) -> Result<Plugin, String> {
        let runtime = props
            .get(crate::config::common::CONNECTOR_RUNTIME_CONFIG)
            .map(|r| r.trim())
            .unwrap_or("auto");
        let known = || {
            self.plugins
                .iter()
                .map(|p| p.class.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match runtime {
            "native" => self.find(class).cloned().ok_or_else(|| {
                format!(
                    "no native connector is called `{class}` (connector.runtime=native); native connectors: {}",
                    known()
                )
            }),
            "jvm" => match &self.resolver {
                Some(resolve) => resolve(class, props),
                None => Err(format!(
                    "connector.runtime=jvm, but this build has no JVM bridge (build with the `jvm` feature) to run `{class}`"
                )),
            },
            "auto" | "" => {
                if let Some(p) = self.find(class) {
                    // Said once per class and process (a job resolves its
                    // class several times: validate, unknown keys, prepare).
                    static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
                    let first = {
                        let mut said = SAID.lock().unwrap_or_else(|e| e.into_inner());
                        let first = !said.iter().any(|c| c == class);
                        if first {
                            said.push(class.to_owned());
                        }
                        first
                    };
                    if p.class != class && first {
                        tracing::info!(
                            connector_class = class,
                            native = %p.class,
                            "connector.class runs on the native connector (connector.runtime=auto; set connector.runtime=jvm to run the Java jar)"
                        );
                    }
                    return Ok(p.clone());
                }
                match &self.resolver {
                    Some(resolve) => resolve(class, props),
                    None => Err(format!(
                        "unknown connector class `{class}`; known: {}",
                        known()
                    )),
                }
            }
            other => Err(format!(
                "connector.runtime must be auto, native or jvm, got `{other}`"
            )),
        }
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
