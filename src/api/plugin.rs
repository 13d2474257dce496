//! A connector as a plugin: what a plugin set holds and a job creates
//! connectors from.

use std::sync::Arc;

use super::SourceConnector;

/// Makes a new, unstarted connector.
pub type ConnectorFactory = Arc<dyn Fn() -> Box<dyn SourceConnector> + Send + Sync>;

/// A connector as a plugin: its class name, the other names it answers
/// to, a one-line summary, and how to make one.
#[derive(Clone)]
pub struct ConnectorPlugin {
    /// The class name (`FileStreamSource`).
    pub class: String,
    /// Other names accepted for `connector.class`
    /// (`org.apache.kafka.connect.file.FileStreamSourceConnector`).
    pub aliases: Vec<String>,
    /// One line on what it does.
    pub summary: String,
    factory: ConnectorFactory,
}

impl ConnectorPlugin {
    /// A plugin made by `factory`, named `class` and `aliases`.
    pub fn new(
        class: &str,
        aliases: &[&str],
        summary: &str,
        factory: impl Fn() -> Box<dyn SourceConnector> + Send + Sync + 'static,
    ) -> ConnectorPlugin {
        ConnectorPlugin {
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
