//! Built-in connectors, one module each. Adding one touches nothing but its
//! own module and one line in [`builtin`]; [`crate::plugins::PluginSet`]
//! takes them from there.
//!
//! - [`file::FileStreamSource`]: the lines of a (growing) file, offsets
//!   compatible with Kafka's `FileStreamSourceConnector`.
//! - [`datagen::Datagen`]: deterministic generated records (orders, users)
//!   with logical types, over a fixed number of source partitions.
//! - [`postgres::PostgresCdc`]: PostgreSQL change data capture through
//!   logical replication (pgoutput), Debezium-compatible.

use crate::api::{ConnectError, ConnectorPlugin};
use crate::config::{ConfigDef, ConfigIssue, ParsedConfig, Properties};

pub mod datagen;
pub mod file;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod spooldir;

/// Every built-in connector, as a plugin.
pub fn builtin() -> Vec<ConnectorPlugin> {
    vec![
        file::plugin(),
        datagen::plugin(),
        spooldir::plugin(),
        #[cfg(feature = "postgres")]
        postgres::plugin(),
    ]
}

/// Names a connector (and task) in messages: ``FileStreamSource connector `name` task 0``.
/// The connector's `name` property is used when present.
pub(crate) fn describe(class: &str, props: &Properties, task: Option<usize>) -> String {
    let mut who = match props.get("name") {
        Some(name) => format!("{class} connector `{name}`"),
        None => format!("{class} connector"),
    };
    if let Some(task) = task {
        who.push_str(&format!(" task {task}"));
    }
    who
}

/// Names a running task by its context's connector name and task id.
pub(crate) fn describe_task(class: &str, connector: &str, task: usize) -> String {
    format!("{class} connector `{connector}` task {task}")
}

/// One [`ConnectError::Config`] listing every issue, prefixed by `who`.
pub(crate) fn config_error(who: &str, issues: &[ConfigIssue]) -> ConnectError {
    let listed: Vec<String> = issues.iter().map(ToString::to_string).collect();
    ConnectError::Config(format!(
        "{who}: invalid configuration: {}",
        listed.join("; ")
    ))
}

/// Parses `props` against `def`; every problem comes back at once, naming `who`.
pub(crate) fn parse_config(
    def: &ConfigDef,
    props: &Properties,
    who: &str,
) -> Result<ParsedConfig, ConnectError> {
    def.parse(props)
        .map_err(|issues| config_error(who, &issues))
}

/// A value the parsed configuration must hold (it has a default or is
/// required, so only a broken parser leaves it out).
pub(crate) fn required<T>(value: Option<T>, who: &str, key: &str) -> Result<T, ConnectError> {
    value.ok_or_else(|| ConnectError::Config(format!("{who}: `{key}` has no value")))
}
