//! The plugins a job can name — connectors, converters, header
//! converters, transforms and predicates — in one [`PluginSet`], found by
//! class name or alias. A plugin is registered under its own class name and
//! the Java class names of its Kafka equivalents, so a `.properties` file
//! written for Kafka Connect works unchanged.
//!
//! The set knows no plugin itself: [`PluginSet::builtin`] registers the
//! built-in connectors ([`crate::connectors`]), converters
//! ([`crate::convert`]) and transforms ([`crate::transforms`]) from here,
//! above them; the JVM bridge adds Java connectors through a
//! [`ConnectorResolver`].

use std::sync::Arc;

use crate::api::{ConnectorPlugin, SourceConnector};
use crate::config::Properties;
use crate::convert::{ConverterFactory, ConverterRegistry, HeaderConverterFactory};
use crate::transforms::{PredicateFactory, TransformFactory, TransformRegistry};

/// One registered plugin of any kind, as [`PluginSet::list`] gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginInfo {
    /// What it is.
    pub kind: PluginKind,
    /// Its class name.
    pub class: String,
    /// Other names that find it.
    pub aliases: Vec<String>,
}

/// Finds a connector the registry does not hold itself — the JVM bridge's
/// Java connectors — from `connector.class` and the job's properties
/// (`plugin.path`, `jvm.*`). `Err` explains why the class cannot run.
pub type ConnectorResolver =
    Arc<dyn Fn(&str, &Properties) -> Result<ConnectorPlugin, String> + Send + Sync>;

/// What a plugin is, as the key that names it tells: `connector.class`,
/// `key.converter` / `value.converter`, `header.converter`,
/// `transforms.<alias>.type`, `predicates.<alias>.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PluginKind {
    /// A source connector.
    Connector,
    /// A key or value converter.
    Converter,
    /// A header converter.
    HeaderConverter,
    /// A single message transform.
    Transform,
    /// A transform's predicate.
    Predicate,
}

impl PluginKind {
    /// The kind's name in messages and listings (`connector`, `converter`, …).
    pub fn name(self) -> &'static str {
        match self {
            PluginKind::Connector => "connector",
            PluginKind::Converter => "converter",
            PluginKind::HeaderConverter => "header converter",
            PluginKind::Transform => "transform",
            PluginKind::Predicate => "predicate",
        }
    }
}

/// The plugins a job can name: connectors (`connector.class`), converters
/// (`key.converter`, `value.converter`, `header.converter`), and
/// transforms and predicates (`transforms.<alias>.type`,
/// `predicates.<alias>.type`) — Kafka Connect's plugin path, in code. One
/// set, one way to register and to look up, whatever the kind.
///
/// ```
/// use timely_connect::plugins::{PluginKind, PluginSet};
/// let plugins = PluginSet::builtin();
/// assert!(plugins.find("FileStreamSource").is_some());
/// assert!(plugins.find("org.apache.kafka.connect.file.FileStreamSourceConnector").is_some());
/// assert!(plugins.find("NoSuchConnector").is_none());
/// // Any kind, by class name or alias:
/// assert_eq!(plugins.kinds_of("JsonConverter"),
///            [PluginKind::Converter, PluginKind::HeaderConverter]);
/// assert_eq!(plugins.kinds_of("org.apache.kafka.connect.transforms.Cast$Value"),
///            [PluginKind::Transform]);
/// assert!(plugins.list().iter().any(|p| p.kind == PluginKind::Predicate
///                                      && p.class.ends_with("TopicNameMatches")));
/// ```
#[derive(Clone, Default)]
pub struct PluginSet {
    plugins: Vec<ConnectorPlugin>,
    resolver: Option<ConnectorResolver>,
    transforms: TransformRegistry,
    converters: ConverterRegistry,
}

impl PluginSet {
    /// A registry with nothing in it.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The built-in connectors, converters, transforms and predicates.
    pub fn builtin() -> Self {
        let mut r = PluginSet {
            plugins: Vec::new(),
            resolver: None,
            transforms: TransformRegistry::builtin(),
            converters: ConverterRegistry::builtin(),
        };
        for plugin in crate::connectors::builtin() {
            r.add(plugin);
        }
        r
    }

    /// Registers a converter (key or value) under `class` and `aliases`.
    pub fn register_converter(
        &mut self,
        class: &str,
        aliases: &[&str],
        factory: ConverterFactory,
    ) -> &mut Self {
        self.converters.register(class, aliases, factory);
        self
    }

    /// Registers a header converter under `class` and `aliases`.
    pub fn register_header_converter(
        &mut self,
        class: &str,
        aliases: &[&str],
        factory: HeaderConverterFactory,
    ) -> &mut Self {
        self.converters.register_header(class, aliases, factory);
        self
    }

    /// Registers a transform under `class` and `aliases`.
    pub fn register_transform(
        &mut self,
        class: &str,
        aliases: &[&str],
        factory: TransformFactory,
    ) -> &mut Self {
        self.transforms.register_transform(class, aliases, factory);
        self
    }

    /// Registers a predicate under `class` and `aliases`.
    pub fn register_predicate(
        &mut self,
        class: &str,
        aliases: &[&str],
        factory: PredicateFactory,
    ) -> &mut Self {
        self.transforms.register_predicate(class, aliases, factory);
        self
    }

    /// The kinds of plugin registered as `name` (class name or alias), in
    /// [`PluginKind`] order: empty when none is. A Java connector that only
    /// the resolver knows is not listed.
    pub fn kinds_of(&self, name: &str) -> Vec<PluginKind> {
        let name = name.trim();
        let mut kinds = Vec::new();
        if self.find(name).is_some() {
            kinds.push(PluginKind::Connector);
        }
        if self.converters.find(name).is_some() {
            kinds.push(PluginKind::Converter);
        }
        if self.converters.find_header(name).is_some() {
            kinds.push(PluginKind::HeaderConverter);
        }
        if self.transforms.find_transform(name).is_some() {
            kinds.push(PluginKind::Transform);
        }
        if self.transforms.find_predicate(name).is_some() {
            kinds.push(PluginKind::Predicate);
        }
        kinds
    }

    /// Every registered plugin of every kind: connectors in registration
    /// order, then converters and header converters (by class name), then
    /// transforms and predicates in registration order.
    pub fn list(&self) -> Vec<PluginInfo> {
        let mut all: Vec<PluginInfo> = self
            .plugins
            .iter()
            .map(|p| PluginInfo {
                kind: PluginKind::Connector,
                class: p.class.clone(),
                aliases: p.aliases.clone(),
            })
            .collect();
        for (kind, names) in [
            (
                PluginKind::Converter,
                self.converters.names().collect::<Vec<_>>(),
            ),
            (
                PluginKind::HeaderConverter,
                self.converters.header_names().collect(),
            ),
        ] {
            let mut by_class: Vec<PluginInfo> = Vec::new();
            for name in names {
                let class = self.converters.class_of(name).unwrap_or(name);
                match by_class.iter_mut().find(|p| p.class == class) {
                    Some(p) if name != class => p.aliases.push(name.to_owned()),
                    Some(_) => {}
                    None => by_class.push(PluginInfo {
                        kind,
                        class: class.to_owned(),
                        aliases: if name == class {
                            Vec::new()
                        } else {
                            vec![name.to_owned()]
                        },
                    }),
                }
            }
            by_class.sort_by(|a, b| a.class.cmp(&b.class));
            all.extend(by_class);
        }
        let listed = |kind, infos: &mut dyn Iterator<Item = crate::transforms::PluginInfo>| {
            infos
                .map(|i| PluginInfo {
                    kind,
                    class: i.class,
                    aliases: i.aliases,
                })
                .collect::<Vec<_>>()
        };
        all.extend(listed(
            PluginKind::Transform,
            &mut self.transforms.transforms(),
        ));
        all.extend(listed(
            PluginKind::Predicate,
            &mut self.transforms.predicates(),
        ));
        all
    }

    /// The reference of every native plugin in Markdown, as
    /// `docs/connectors.md` has it: the keys every connector shares, then
    /// each connector (summary, aliases, keys), each converter's keys, and
    /// the transforms and predicates with theirs.
    ///
    /// ```
    /// let md = timely_connect::PluginSet::builtin().reference_markdown();
    /// assert!(md.starts_with("# Connectors\n"));
    /// assert!(md.contains("\n## FileStreamSource\n"));
    /// assert!(md.contains("## `org.apache.kafka.connect.json.JsonConverter`"));
    /// ```
    pub fn reference_markdown(&self) -> String {
        let mut out = String::from("# Connectors\n\n## Keys every connector shares\n\n");
        out.push_str(&crate::config::common::connector_config_def().to_markdown());
        for plugin in &self.plugins {
            out.push_str(&format!("\n## {}\n\n{}\n\n", plugin.class, plugin.summary));
            if !plugin.aliases.is_empty() {
                let aliases: Vec<String> =
                    plugin.aliases.iter().map(|a| format!("`{a}`")).collect();
                out.push_str(&format!(
                    "Also accepted as `connector.class`: {}\n\n",
                    aliases.join(", ")
                ));
            }
            out.push_str(&plugin.create().config_def().to_markdown());
        }
        out.push_str("\n# Converters\n\n");
        for class in self.converter_classes() {
            out.push_str(&format!("## `{class}`\n\n"));
            let keys = match self.converters.find(class) {
                Some(make) => make().config_def().to_markdown(),
                None => self
                    .converters
                    .find_header(class)
                    .map(|make| make().config_def().to_markdown())
                    .unwrap_or_default(),
            };
            if keys.is_empty() {
                out.push_str("No configuration keys.\n\n");
            } else {
                out.push_str(&keys);
            }
        }
        out.push_str("\n# Transforms and predicates\n\n");
        out.push_str(&self.transforms.to_markdown());
        out
    }

    /// A plain-text listing of the native plugins, one per line (the CLI's
    /// `plugins`): connectors with their summaries and aliases, then the
    /// converter, transform and predicate classes.
    ///
    /// ```
    /// let text = timely_connect::PluginSet::builtin().listing();
    /// assert!(text.lines().any(|l| l.starts_with("Datagen ")));
    /// assert!(text.contains("\nconverters:\n"));
    /// ```
    pub fn listing(&self) -> String {
        let mut out = String::new();
        for plugin in &self.plugins {
            out.push_str(&format!("{:<20} {}\n", plugin.class, plugin.summary));
            for a in &plugin.aliases {
                out.push_str(&format!("{:<20}   alias: {a}\n", ""));
            }
        }
        out.push_str("\nconverters:\n");
        for class in self.converter_classes() {
            out.push_str(&format!("  {class}\n"));
        }
        out.push_str("transforms:\n");
        for t in self.transforms.transforms() {
            out.push_str(&format!("  {}\n", t.class));
        }
        out.push_str("predicates:\n");
        for p in self.transforms.predicates() {
            out.push_str(&format!("  {}\n", p.class));
        }
        out
    }

    /// Every converter and header converter class, sorted, once each.
    fn converter_classes(&self) -> Vec<&str> {
        let c = &self.converters;
        let mut classes: Vec<&str> = c
            .names()
            .chain(c.header_names())
            .filter_map(|n| c.class_of(n))
            .collect();
        classes.sort_unstable();
        classes.dedup();
        classes
    }

    /// The converter tables, for reading a job's converter keys
    /// ([`crate::convert::ConverterConfig::from_properties`]).
    pub fn converters(&self) -> &ConverterRegistry {
        &self.converters
    }

    /// The transform and predicate tables, for reading a job's
    /// `transforms` keys ([`crate::transforms::TransformChain::from_config`]).
    pub fn transforms(&self) -> &TransformRegistry {
        &self.transforms
    }

    /// Adds a connector plugin (a later one with the same name is found
    /// first only if registered under a name the earlier lacks).
    pub fn add(&mut self, plugin: ConnectorPlugin) -> &mut Self {
        self.plugins.push(plugin);
        self
    }

    /// Registers a connector under `class` and `aliases`, with a one-line
    /// summary for listings.
    pub fn register(
        &mut self,
        class: &str,
        aliases: &[&str],
        summary: &str,
        factory: impl Fn() -> Box<dyn SourceConnector> + Send + Sync + 'static,
    ) -> &mut Self {
        self.add(ConnectorPlugin::new(class, aliases, summary, factory))
    }

    /// Sets the resolver [`PluginSet::resolve`] asks for classes the
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
    /// use timely_connect::{plugins::PluginSet, Properties};
    /// let registry = PluginSet::builtin();
    /// let props = Properties::new();
    /// let p = registry.resolve("org.apache.kafka.connect.file.FileStreamSourceConnector", &props).unwrap();
    /// assert_eq!(p.class, "FileStreamSource");
    /// let err = registry.resolve("com.example.Nope", &props).err().unwrap();
    /// assert!(err.contains("unknown connector class `com.example.Nope`"), "{err}");
    /// ```
    pub fn resolve(&self, class: &str, props: &Properties) -> Result<ConnectorPlugin, String> {
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
    pub fn find(&self, name: &str) -> Option<&ConnectorPlugin> {
        self.plugins.iter().find(|p| p.matches(name))
    }

    /// Every plugin, in registration order.
    pub fn plugins(&self) -> &[ConnectorPlugin] {
        &self.plugins
    }
}

// `docs/connectors.md` is made with the default features: only they check it.
#[cfg(all(test, feature = "postgres", feature = "avro", feature = "s3"))]
mod tests {
    use super::*;

    /// `docs/connectors.md` opens with this reference as it is now (the
    /// Java connectors follow; they depend on the jars installed).
    /// Regenerate it with `timely-connect plugins --markdown > docs/connectors.md`.
    #[test]
    fn docs_connectors_md_is_current() {
        let doc = include_str!("../docs/connectors.md");
        let now = PluginSet::builtin().reference_markdown();
        if !doc.starts_with(&now) {
            let line = doc
                .lines()
                .zip(now.lines())
                .position(|(a, b)| a != b)
                .map_or(now.lines().count(), |i| i + 1);
            panic!(
                "docs/connectors.md differs from the native plugins' reference at line {line}: regenerate it"
            );
        }
    }
}
