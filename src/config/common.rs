//! Keys every connector shares (Kafka's `ConnectorConfig`) and the
//! framework's own keys, and [`CommonConfig`], their typed form.

use std::time::Duration;

use super::def::{
    ConfigDef, ConfigIssue, ConfigKey, ConfigType, Importance, ParsedConfig, Validator,
};
use super::properties::Properties;

/// `name`: the connector's unique name.
pub const NAME_CONFIG: &str = "name";
/// `connector.class`: which connector to run.
pub const CONNECTOR_CLASS_CONFIG: &str = "connector.class";
/// `tasks.max`: the most tasks the connector may use.
pub const TASKS_MAX_CONFIG: &str = "tasks.max";
/// `errors.retry.timeout`: how long to retry a failing `poll()`, in ms.
pub const ERRORS_RETRY_TIMEOUT_CONFIG: &str = "errors.retry.timeout";
/// `errors.retry.delay.max.ms`: the longest wait between retries.
pub const ERRORS_RETRY_MAX_DELAY_CONFIG: &str = "errors.retry.delay.max.ms";
/// The shortest snapshot interval a job accepts (`snapshot.interval.ms`,
/// `--snapshot-interval`).
pub const MIN_SNAPSHOT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

/// `snapshot.interval.ms`: time between offset snapshots.
pub const SNAPSHOT_INTERVAL_MS_CONFIG: &str = "snapshot.interval.ms";
/// `snapshot.retain`: how many snapshots to keep.
pub const SNAPSHOT_RETAIN_CONFIG: &str = "snapshot.retain";
/// `key.converter`: converter class for record keys.
pub const KEY_CONVERTER_CLASS_CONFIG: &str = "key.converter";
/// `value.converter`: converter class for record values.
pub const VALUE_CONVERTER_CLASS_CONFIG: &str = "value.converter";
/// `header.converter`: converter class for record headers.
pub const HEADER_CONVERTER_CLASS_CONFIG: &str = "header.converter";
/// `transforms`: aliases of the transforms to apply, in order.
pub const TRANSFORMS_CONFIG: &str = "transforms";
/// `predicates`: aliases of the predicates transforms may refer to.
pub const PREDICATES_CONFIG: &str = "predicates";
/// `errors.tolerance`: `none` fails the task on a bad record, `all` skips it.
pub const ERRORS_TOLERANCE_CONFIG: &str = "errors.tolerance";
/// `errors.log.enable`: log each record-level failure.
pub const ERRORS_LOG_ENABLE_CONFIG: &str = "errors.log.enable";
/// `errors.log.include.messages`: include the record in those logs.
pub const ERRORS_LOG_INCLUDE_MESSAGES_CONFIG: &str = "errors.log.include.messages";

/// Which implementation runs `connector.class`: `auto`, `native` or `jvm`.
pub const CONNECTOR_RUNTIME_CONFIG: &str = "connector.runtime";
/// Kafka Connect's `plugin.path`: directories of Java connector plugins.
pub const PLUGIN_PATH_CONFIG: &str = "plugin.path";
/// The embedded JVM's options.
pub const JVM_OPTIONS_CONFIG: &str = "jvm.options";
/// The embedded JVM's worker class path (the Connect API's jars).
pub const JVM_CLASSPATH_CONFIG: &str = "jvm.classpath";

const COMMON_GROUP: &str = "Common";
const JAVA_GROUP: &str = "Java connectors";
const ERROR_GROUP: &str = "Error Handling";
const SNAPSHOT_GROUP: &str = "Snapshots";
const TRANSFORMS_GROUP: &str = "Transforms";

/// The keys every connector shares, with Kafka Connect's names and
/// defaults where Kafka has the key. A connector's own definition is
/// usually `connector_config_def().merge(own)`.
pub fn connector_config_def() -> ConfigDef {
    ConfigDef::new()
        .define(
            ConfigKey::new(
                NAME_CONFIG,
                ConfigType::String,
                Importance::High,
                "Unique name of this connector; it names the connector in errors, logs and \
                 snapshots, and its default snapshot directory `snapshots/<name>`. At most 200 \
                 bytes, no `/`, `\\` or control characters, not `.` or `..`, no leading or \
                 trailing spaces.",
            )
            .validator(Validator::FileName)
            .group(COMMON_GROUP, 1),
        )
        .define(
            ConfigKey::new(
                CONNECTOR_CLASS_CONFIG,
                ConfigType::Class,
                Importance::High,
                "The connector to run, by the name it is registered under.",
            )
            .validator(Validator::NonEmptyString)
            .group(COMMON_GROUP, 2),
        )
        .define(
            ConfigKey::new(
                CONNECTOR_RUNTIME_CONFIG,
                ConfigType::String,
                Importance::Medium,
                "Which implementation runs `connector.class` when both a native Rust connector \
                 and a Java one answer to it (FileStreamSource, the PostgreSQL connector): `auto` \
                 picks the native one and logs so, `native` requires it, `jvm` runs the Java \
                 connector's jar in the embedded JVM.",
            )
            .default_value("auto")
            .validator(Validator::one_of(&["auto", "native", "jvm"]))
            .group(JAVA_GROUP, 1),
        )
        .define(
            ConfigKey::new(
                PLUGIN_PATH_CONFIG,
                ConfigType::List,
                Importance::Medium,
                "Directories of Java connector plugins, as Kafka Connect's `plugin.path`: each \
                 child directory of jars, each uber-jar and each directory of classes is one \
                 plugin with a class loader of its own. Empty: the `plugins/` directory that \
                 scripts/install-java-plugins.sh fills. The `--plugin-path` flag overrides it.",
            )
            .default_value("")
            .group(JAVA_GROUP, 2),
        )
        .define(
            ConfigKey::new(
                JVM_CLASSPATH_CONFIG,
                ConfigType::List,
                Importance::Low,
                "The embedded JVM's worker class path: jars, directories of classes, or \
                 directories whose jars are all taken (a Kafka distribution's `libs/`). It must \
                 hold the Connect API, kafka-clients and SLF4J. Empty: the `platform/` directory \
                 that scripts/install-java-plugins.sh fills.",
            )
            .default_value("")
            .group(JAVA_GROUP, 3),
        )
        .define(
            ConfigKey::new(
                JVM_OPTIONS_CONFIG,
                ConfigType::String,
                Importance::Low,
                "Options for the embedded JVM, separated by spaces, after the defaults \
                 (`-Xmx1g -Xrs -XX:-UsePerfData`, and `-XX:+UseParallelGC` unless a collector \
                 is chosen) and before those of the TIMELY_CONNECT_JVM_OPTIONS environment \
                 variable. The JVM starts once per process, with the options of the first \
                 Java connector.",
            )
            .default_value("")
            .group(JAVA_GROUP, 4),
        )
        .define(
            ConfigKey::new(
                TASKS_MAX_CONFIG,
                ConfigType::Int,
                Importance::High,
                "The most tasks the connector may split its work into; it may use fewer.",
            )
            .default_value("1")
            .validator(Validator::at_least(1.0))
            .group(COMMON_GROUP, 3),
        )
        .define(
            ConfigKey::new(
                KEY_CONVERTER_CLASS_CONFIG,
                ConfigType::Class,
                Importance::Low,
                "Converter for record keys (our name or Kafka's Java class name), configured \
                 with the `key.converter.*` keys. Records reach the dataflow as Connect values; \
                 the converter applies where records become bytes (the CLI's output, the \
                 `encode` operator).",
            )
            .optional()
            .group(COMMON_GROUP, 4),
        )
        .define(
            ConfigKey::new(
                VALUE_CONVERTER_CLASS_CONFIG,
                ConfigType::Class,
                Importance::Low,
                "Converter for record values (our name or Kafka's Java class name), configured \
                 with the `value.converter.*` keys. Unset, the CLI's output writes strings as \
                 they are and other values as schemaless JSON.",
            )
            .optional()
            .group(COMMON_GROUP, 5),
        )
        .define(
            ConfigKey::new(
                HEADER_CONVERTER_CLASS_CONFIG,
                ConfigType::Class,
                Importance::Low,
                "Converter for header values, configured with the `header.converter.*` keys; \
                 unset, Kafka's default, SimpleHeaderConverter.",
            )
            .optional()
            .group(COMMON_GROUP, 6),
        )
        .define(
            ConfigKey::new(
                TRANSFORMS_CONFIG,
                ConfigType::List,
                Importance::Low,
                "Aliases of the single message transforms to apply to each record, in order; \
                 each is configured with `transforms.<alias>.type` and its own \
                 `transforms.<alias>.*` keys, and may name a predicate with \
                 `transforms.<alias>.predicate` (inverted by `transforms.<alias>.negate`).",
            )
            .default_value("")
            .group(TRANSFORMS_GROUP, 1),
        )
        .define(
            ConfigKey::new(
                PREDICATES_CONFIG,
                ConfigType::List,
                Importance::Low,
                "Aliases of the predicates transforms can refer to; each is configured with \
                 `predicates.<alias>.type` and its own `predicates.<alias>.*` keys.",
            )
            .default_value("")
            .group(TRANSFORMS_GROUP, 2),
        )
        .define(
            ConfigKey::new(
                ERRORS_TOLERANCE_CONFIG,
                ConfigType::String,
                Importance::Medium,
                "What a record that fails a transform or a conversion does: `none` fails the \
                 task, naming the stage, the record and the cause; `all` sends the record, with \
                 that context in its headers, to the dead-letter stream, and the job goes on. \
                 Either way the record's offset counts as read.",
            )
            .default_value("none")
            .validator(Validator::one_of(&["none", "all"]))
            .group(ERROR_GROUP, 3),
        )
        .define(
            ConfigKey::new(
                ERRORS_LOG_ENABLE_CONFIG,
                ConfigType::Boolean,
                Importance::Medium,
                "Log every record-level failure (stage, class, cause, source partition and \
                 offset), also the ones `errors.tolerance=all` lets through.",
            )
            .default_value("false")
            .group(ERROR_GROUP, 4),
        )
        .define(
            ConfigKey::new(
                ERRORS_LOG_INCLUDE_MESSAGES_CONFIG,
                ConfigType::Boolean,
                Importance::Medium,
                "Include the failed record's key, value and headers in those log lines.",
            )
            .default_value("false")
            .group(ERROR_GROUP, 5),
        )
        .define(
            ConfigKey::new(
                ERRORS_RETRY_TIMEOUT_CONFIG,
                ConfigType::Long,
                Importance::Medium,
                "How long, in milliseconds, a task retries poll() after a retriable error \
                 before the task fails. -1 (the default) retries without limit, as Kafka \
                 Connect does for a RetriableException thrown from poll(); 0 does not retry. \
                 Kafka's own default for this key, 0, governs its converters and \
                 transformations, not poll().",
            )
            .default_value("-1")
            .validator(Validator::at_least(-1.0))
            .group(ERROR_GROUP, 1),
        )
        .define(
            ConfigKey::new(
                ERRORS_RETRY_MAX_DELAY_CONFIG,
                ConfigType::Long,
                Importance::Medium,
                "The longest wait, in milliseconds, between two retries; waits grow \
                 exponentially up to it.",
            )
            .default_value("60000")
            .validator(Validator::at_least(1.0))
            .group(ERROR_GROUP, 2),
        )
        .define(
            ConfigKey::new(
                SNAPSHOT_INTERVAL_MS_CONFIG,
                ConfigType::Long,
                Importance::Medium,
                "Milliseconds between snapshots of the source offsets; a restart re-reads at \
                 most what came after the last snapshot. At least 10: shorter intervals would \
                 keep the workers busy closing epochs.",
            )
            .default_value("1000")
            .validator(Validator::at_least(MIN_SNAPSHOT_INTERVAL.as_millis() as f64))
            .group(SNAPSHOT_GROUP, 1),
        )
        .define(
            ConfigKey::new(
                SNAPSHOT_RETAIN_CONFIG,
                ConfigType::Int,
                Importance::Low,
                "How many of the newest snapshots to keep; older ones are deleted.",
            )
            .default_value("3")
            .validator(Validator::at_least(1.0))
            .group(SNAPSHOT_GROUP, 2),
        )
        .define_each(s3_keys())
}

/// The `snapshot.s3.*` keys: how a job reaches an `s3://` snapshot
/// location, each overriding its `AWS_*` environment variable.
fn s3_keys() -> Vec<ConfigKey> {
    // Defined whatever the build's features: a job file keeps its keys
    // valid on a build without S3, which refuses only an s3:// location.
    let text = |name: &'static str, doc: &'static str| {
        ConfigKey::new(name, ConfigType::String, Importance::Low, doc)
    };
    let number = |name: &'static str, doc: &'static str| {
        ConfigKey::new(name, ConfigType::Long, Importance::Low, doc)
            .validator(Validator::at_least(0.0))
    };
    let keys = vec![
        text(
            "snapshot.s3.endpoint",
            "S3 endpoint URL for an s3:// snapshot location (default: AWS_ENDPOINT_URL, else AWS). \
             Plain http is allowed for a loopback address, elsewhere only with snapshot.s3.allow.http.",
        ),
        text("snapshot.s3.region", "S3 region (default: AWS_REGION, else us-east-1)."),
        text("snapshot.s3.access.key.id", "S3 access key id (default: AWS_ACCESS_KEY_ID)."),
        ConfigKey::new(
            "snapshot.s3.secret.access.key",
            ConfigType::Password,
            Importance::Low,
            "S3 secret access key (default: AWS_SECRET_ACCESS_KEY).",
        ),
        ConfigKey::new(
            "snapshot.s3.session.token",
            ConfigType::Password,
            Importance::Low,
            "S3 session token of temporary credentials (default: AWS_SESSION_TOKEN).",
        ),
        ConfigKey::new(
            "snapshot.s3.allow.http",
            ConfigType::Boolean,
            Importance::Low,
            "Allow a plain-http S3 endpoint that is not on loopback (default: AWS_ALLOW_HTTP).",
        ),
        text(
            "snapshot.s3.conditional.put",
            "`etag` (default): snapshots are created with If-None-Match; `disabled` for servers \
             that reject the header (one coordinator per prefix still never overwrites).",
        ),
        number("snapshot.s3.retry.max", "Retries of a failed S3 request (default 5)."),
        number(
            "snapshot.s3.retry.timeout.ms",
            "How long an S3 request is retried before it fails (default 30000).",
        ),
        number(
            "snapshot.s3.request.timeout.ms",
            "Timeout of one S3 request attempt (default 30000).",
        ),
    ];
    keys.into_iter()
        .enumerate()
        .map(|(i, k)| k.optional().group(SNAPSHOT_GROUP, 3 + i as i32))
        .collect()
}

/// `errors.tolerance`, typed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ErrorTolerance {
    /// `none`: a record that fails a transform or a conversion fails the task.
    #[default]
    None,
    /// `all`: such a record goes to the dead-letter stream and the job goes on.
    All,
}

/// How record-level failures (transforms, converters) are handled: the
/// `errors.tolerance`, `errors.log.enable` and `errors.log.include.messages`
/// keys, typed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErrorHandling {
    /// `errors.tolerance`.
    pub tolerance: ErrorTolerance,
    /// `errors.log.enable`.
    pub log_enable: bool,
    /// `errors.log.include.messages`.
    pub log_include_messages: bool,
}

/// The shared keys, typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommonConfig {
    /// `name`.
    pub name: String,
    /// `connector.class`.
    pub connector_class: String,
    /// `tasks.max`, at least 1.
    pub tasks_max: usize,
    /// `errors.retry.timeout`; `None`: retry without limit.
    pub retry_timeout: Option<Duration>,
    /// `errors.retry.delay.max.ms`.
    pub retry_delay_max: Duration,
    /// `snapshot.interval.ms`.
    pub snapshot_interval: Duration,
    /// `snapshot.retain`, at least 1.
    pub snapshot_retain: usize,
    /// `errors.tolerance`, `errors.log.enable`, `errors.log.include.messages`.
    pub errors: ErrorHandling,
}

impl CommonConfig {
    /// Takes the shared keys from a configuration parsed with a definition
    /// that includes [`connector_config_def`]. An issue names a key that is
    /// absent or out of range (only possible with another definition).
    pub fn from_parsed(parsed: &ParsedConfig) -> Result<Self, ConfigIssue> {
        let missing =
            |key: &str| ConfigIssue::new(key, "missing (not parsed with the common keys)");
        let string = |key: &str| {
            parsed
                .string(key)
                .map(str::to_owned)
                .ok_or_else(|| missing(key))
        };
        let positive = |key: &str, value: Option<i64>| -> Result<u64, ConfigIssue> {
            let value = value.ok_or_else(|| missing(key))?;
            u64::try_from(value)
                .ok()
                .filter(|v| *v >= 1)
                .ok_or_else(|| ConfigIssue::new(key, format!("must be at least 1, got `{value}`")))
        };
        let count = |key: &str| -> Result<usize, ConfigIssue> {
            let n = positive(key, parsed.int(key).map(i64::from))?;
            usize::try_from(n).map_err(|_| ConfigIssue::new(key, format!("`{n}` is too large")))
        };
        let millis = |key: &str| positive(key, parsed.long(key)).map(Duration::from_millis);

        let retry_timeout = match parsed.long(ERRORS_RETRY_TIMEOUT_CONFIG) {
            None => return Err(missing(ERRORS_RETRY_TIMEOUT_CONFIG)),
            Some(-1) => None,
            Some(ms) => Some(Duration::from_millis(u64::try_from(ms).map_err(|_| {
                ConfigIssue::new(
                    ERRORS_RETRY_TIMEOUT_CONFIG,
                    format!("must be at least -1, got `{ms}`"),
                )
            })?)),
        };
        Ok(CommonConfig {
            name: string(NAME_CONFIG)?,
            connector_class: string(CONNECTOR_CLASS_CONFIG)?,
            tasks_max: count(TASKS_MAX_CONFIG)?,
            retry_timeout,
            retry_delay_max: millis(ERRORS_RETRY_MAX_DELAY_CONFIG)?,
            snapshot_interval: millis(SNAPSHOT_INTERVAL_MS_CONFIG)?,
            snapshot_retain: count(SNAPSHOT_RETAIN_CONFIG)?,
            errors: ErrorHandling {
                tolerance: match parsed.string(ERRORS_TOLERANCE_CONFIG) {
                    Some("all") => ErrorTolerance::All,
                    _ => ErrorTolerance::None,
                },
                log_enable: parsed.boolean(ERRORS_LOG_ENABLE_CONFIG).unwrap_or(false),
                log_include_messages: parsed
                    .boolean(ERRORS_LOG_INCLUDE_MESSAGES_CONFIG)
                    .unwrap_or(false),
            },
        })
    }

    /// Parses `props` with [`connector_config_def`] and types the result;
    /// every problem at once.
    pub fn from_properties(props: &Properties) -> Result<Self, Vec<ConfigIssue>> {
        let parsed = connector_config_def().parse(props)?;
        Self::from_parsed(&parsed).map_err(|issue| vec![issue])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigValue;

    use crate::config::test_props as props;

    #[test]
    fn common_keys_have_kafka_defaults() {
        let p = props(&[("name", "files"), ("connector.class", "FileStreamSource")]);
        let c = CommonConfig::from_properties(&p).unwrap();
        assert_eq!(
            c,
            CommonConfig {
                name: "files".into(),
                connector_class: "FileStreamSource".into(),
                tasks_max: 1,
                retry_timeout: None,
                retry_delay_max: Duration::from_secs(60),
                snapshot_interval: Duration::from_secs(1),
                snapshot_retain: 3,
                errors: ErrorHandling::default(),
            }
        );
        let parsed = connector_config_def().parse(&p).unwrap();
        assert_eq!(
            parsed.get(KEY_CONVERTER_CLASS_CONFIG),
            Some(&ConfigValue::Null)
        );
        assert_eq!(
            parsed.get(VALUE_CONVERTER_CLASS_CONFIG),
            Some(&ConfigValue::Null)
        );
    }

    #[test]
    fn common_keys_take_user_values() {
        let p = props(&[
            ("name", "n"),
            ("connector.class", "C"),
            ("tasks.max", "4"),
            ("errors.retry.timeout", "0"),
            ("errors.retry.delay.max.ms", "250"),
            ("snapshot.interval.ms", "5000"),
            ("snapshot.retain", "10"),
            ("key.converter", "StringConverter"),
            ("errors.tolerance", "all"),
            ("errors.log.enable", "true"),
        ]);
        let c = CommonConfig::from_properties(&p).unwrap();
        assert_eq!(
            c.errors,
            ErrorHandling {
                tolerance: ErrorTolerance::All,
                log_enable: true,
                log_include_messages: false
            }
        );
        assert_eq!(c.tasks_max, 4);
        assert_eq!(c.retry_timeout, Some(Duration::ZERO));
        assert_eq!(c.retry_delay_max, Duration::from_millis(250));
        assert_eq!(c.snapshot_interval, Duration::from_secs(5));
        assert_eq!(c.snapshot_retain, 10);
        let parsed = connector_config_def().parse(&p).unwrap();
        assert_eq!(
            parsed.string(KEY_CONVERTER_CLASS_CONFIG),
            Some("StringConverter")
        );
    }

    #[test]
    fn common_keys_report_every_problem() {
        let p = props(&[
            ("name", ""),
            ("tasks.max", "0"),
            ("errors.retry.timeout", "-2"),
            ("errors.retry.delay.max.ms", "0"),
            ("snapshot.interval.ms", "soon"),
            ("snapshot.retain", "0"),
            ("errors.tolerance", "some"),
            ("errors.log.enable", "maybe"),
        ]);
        let keys: Vec<String> = CommonConfig::from_properties(&p)
            .unwrap_err()
            .into_iter()
            .map(|i| i.key)
            .collect();
        assert_eq!(
            keys,
            [
                NAME_CONFIG,
                CONNECTOR_CLASS_CONFIG,
                TASKS_MAX_CONFIG,
                ERRORS_TOLERANCE_CONFIG,
                ERRORS_LOG_ENABLE_CONFIG,
                ERRORS_RETRY_TIMEOUT_CONFIG,
                ERRORS_RETRY_MAX_DELAY_CONFIG,
                SNAPSHOT_INTERVAL_MS_CONFIG,
                SNAPSHOT_RETAIN_CONFIG,
            ]
        );
    }

    #[test]
    fn from_parsed_reports_keys_missing_from_another_definition() {
        let parsed = ConfigDef::new().parse(&Properties::new()).unwrap();
        let issue = CommonConfig::from_parsed(&parsed).unwrap_err();
        assert_eq!(issue.key, ERRORS_RETRY_TIMEOUT_CONFIG);
    }

    #[test]
    fn connector_can_narrow_a_common_key_by_merging() {
        let own = ConfigDef::new().define(
            ConfigKey::new(
                TASKS_MAX_CONFIG,
                ConfigType::Int,
                Importance::High,
                "One task.",
            )
            .default_value("1")
            .validator(Validator::between(1.0, 1.0)),
        );
        let def = connector_config_def().merge(own);
        let p = props(&[("name", "n"), ("connector.class", "C"), ("tasks.max", "2")]);
        let issues = def.parse(&p).unwrap_err();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].key, TASKS_MAX_CONFIG);
    }

    #[test]
    fn common_reference_documents_retry_default() {
        let md = connector_config_def().to_markdown();
        assert!(md.contains("### Common"), "{md}");
        assert!(
            md.contains("| `errors.retry.timeout` | LONG | `-1` | [-1,...] |"),
            "{md}"
        );
        assert!(md.contains("| `name` | STRING | *required* |"), "{md}");
    }
}
