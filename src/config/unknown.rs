//! Keys nobody reads: a typo, or a key of another system's connector, would
//! otherwise change nothing without a word.

use std::fmt;

use super::{ConfigDef, Properties};

/// Prefixes whose keys are read by converters, transforms and predicates,
/// which check them themselves.
pub const DELEGATED_PREFIXES: &[&str] = &[
    "key.converter.",
    "value.converter.",
    "header.converter.",
    "transforms.",
    "predicates.",
    // `config.providers` and `config.providers.<name>.class`.
    "config.providers",
];

/// Kafka Connect keys that mean something to a Connect worker talking to
/// Kafka and nothing here.
const KAFKA_ONLY_KEYS: &[&str] = &[
    "config.action.reload",
    "exactly.once.support",
    "transaction.boundary",
    "transaction.boundary.interval.ms",
    "offsets.storage.topic",
    "tasks.max.enforce",
    "topic.creation.groups",
];

/// Prefixes of Kafka Connect keys that configure Kafka clients or topics.
const KAFKA_ONLY_PREFIXES: &[&str] = &[
    "topic.creation.",
    "producer.override.",
    "consumer.override.",
    "admin.override.",
];

/// A key of a connector's properties that nothing reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownKey {
    /// The key.
    pub key: String,
    /// The known key it most resembles, if one is close.
    pub nearest: Option<String>,
    /// Whether it is a Kafka Connect key that only matters with Kafka.
    pub kafka_only: bool,
}

impl fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kafka_only {
            return write!(
                f,
                "`{}` is a Kafka Connect key for a worker with Kafka; it has no effect here",
                self.key
            );
        }
        write!(f, "unknown key `{}` is ignored", self.key)?;
        if let Some(nearest) = &self.nearest {
            write!(f, "; did you mean `{nearest}`?")?;
        }
        Ok(())
    }
}

/// The keys of `props` that none of `defs` defines and that are not under
/// [`DELEGATED_PREFIXES`], in key order, each with the nearest defined key
/// when one is close (a few edits away). A key under a defined key
/// (`<defined>.<more>`, as Debezium's `schema.history.internal.*` settings
/// are under `schema.history.internal`) counts as known: connectors pass
/// such sub-keys on to what the defined key names.
///
/// ```
/// use timely_connect::config::{connector_config_def, unknown_keys, Properties};
///
/// let mut props = Properties::new();
/// props.insert("name".into(), "n".into());
/// props.insert("task.max".into(), "4".into());
/// props.insert("value.converter.schemas.enable".into(), "false".into());
/// props.insert("connector.class.extra".into(), "a sub-key".into());
/// let unknown = unknown_keys(&props, &[&connector_config_def()]);
/// assert_eq!(unknown.len(), 1);
/// assert_eq!(unknown[0].to_string(), "unknown key `task.max` is ignored; did you mean `tasks.max`?");
/// ```
pub fn unknown_keys(props: &Properties, defs: &[&ConfigDef]) -> Vec<UnknownKey> {
    let known: Vec<&str> = defs
        .iter()
        .flat_map(|d| d.keys().iter().map(|k| k.name.as_str()))
        .collect();
    let mut unknown: Vec<UnknownKey> = props
        .keys()
        .filter(|key| !known.contains(&key.as_str()))
        .filter(|key| {
            !known.iter().any(|k| {
                key.len() > k.len() + 1 && key.starts_with(k) && key.as_bytes()[k.len()] == b'.'
            })
        })
        .filter(|key| !DELEGATED_PREFIXES.iter().any(|p| key.starts_with(p)))
        .map(|key| {
            let kafka_only = KAFKA_ONLY_KEYS.contains(&key.as_str())
                || KAFKA_ONLY_PREFIXES.iter().any(|p| key.starts_with(p));
            UnknownKey {
                key: key.clone(),
                nearest: if kafka_only {
                    None
                } else {
                    nearest(key, &known)
                },
                kafka_only,
            }
        })
        .collect();
    unknown.sort_by(|a, b| a.key.cmp(&b.key));
    unknown
}

/// The candidate closest to `key` by edit distance, if it is close: at
/// most a third of the key's length, and at least 1, edits away.
///
/// ```
/// use timely_connect::config::nearest;
/// assert_eq!(nearest("tasks.mx", &["tasks.max", "topic"]).as_deref(), Some("tasks.max"));
/// assert_eq!(nearest("zzz", &["tasks.max"]), None);
/// ```
pub fn nearest(key: &str, candidates: &[&str]) -> Option<String> {
    let limit = (key.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (edit_distance(key, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c.to_owned())
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::connector_config_def;

    fn props(keys: &[&str]) -> Properties {
        keys.iter()
            .map(|k| ((*k).to_owned(), "x".to_owned()))
            .collect()
    }

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("tasks.max", "tasks.max"), 0);
        assert_eq!(edit_distance("task.max", "tasks.max"), 1);
        assert_eq!(edit_distance("taskss.max", "tasks.max"), 1);
        assert_eq!(edit_distance("tusks.max", "tasks.max"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn unknown_keys_are_named_with_the_nearest_known_key_and_kafka_only_keys_explained() {
        let def = connector_config_def();
        let found = unknown_keys(
            &props(&[
                "name",
                "connector.class",
                "snapshot.intervall.ms",
                "kafka.topic",
                "transforms.mask.fields",
                "value.converter.schemas.enable",
                "exactly.once.support",
                "topic.creation.default.partitions",
            ]),
            &[&def],
        );
        let text: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            vec![
                "`exactly.once.support` is a Kafka Connect key for a worker with Kafka; it has no effect here",
                "unknown key `kafka.topic` is ignored",
                "unknown key `snapshot.intervall.ms` is ignored; did you mean `snapshot.interval.ms`?",
                "`topic.creation.default.partitions` is a Kafka Connect key for a worker with Kafka; it has no effect here",
            ]
        );
    }
}
