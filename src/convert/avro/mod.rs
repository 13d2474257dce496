//! Confluent's `AvroConverter`: Connect data as Avro in Confluent's wire
//! format (magic byte `0`, the schema's registry id as 4 big-endian bytes,
//! the Avro binary body), with schemas kept in a schema registry.
//!
//! - [`AvroConverter`]: the [`Converter`], configured with Confluent's keys
//!   (`schema.registry.url`, `auto.register.schemas`, …; see
//!   [`avro_config_def`]).
//! - [`AvroData`]: Connect schema ↔ Avro schema, mapped as Confluent's
//!   `AvroData` maps them (see the [`schema`] module docs for the table).
//! - [`SchemaRegistry`]: where schemas live — the in-process
//!   [`EmbeddedRegistry`] (no URL, or `mock://<scope>`) or
//!   [`HttpRegistry`], a Confluent Schema Registry REST client.
//! - [`SubjectNameStrategy`]: which subject a schema is registered under.
//!
//! # Where this differs from Confluent's converter
//!
//! - Values are encoded and decoded by a codec of our own, driven by the
//!   schema and writing straight into the output buffer (no intermediate
//!   Avro value; map entries keep their order). `apache-avro` validates
//!   every schema we produce and is the reference the codec is tested
//!   against.
//! - The Connect schema read back does not take the subject's registry
//!   version as its version when the Avro schema has no `connect.version`
//!   (Confluent's converter does), so a schema comes back exactly as given.
//! - An optional type with a default is written `[T, "null"]` for every
//!   type, STRUCT included (Confluent writes `["null", record]` for an
//!   optional STRUCT, which makes a struct default invalid Avro).
//! - The default of a MAP with non-string keys is written as a list of
//!   `{"key": …, "value": …}` objects (valid Avro); Confluent's
//!   `[[key, value], …]` form is read too.
//! - Not supported: values without a schema (Confluent's "Anything"
//!   schema), `enhanced.avro.schema.support` (an Avro enum reads as a STRING
//!   and is written back as a string, as Confluent does by default),
//!   recursive Avro schemas, `basic.auth.credentials.source=SASL_INHERIT`,
//!   and TLS settings beyond `https://` with the default roots.
//! - `use.latest.version` writes with the latest schema's id only if it
//!   encodes exactly like the record's schema (same Parsing Canonical
//!   Form); Confluent would convert the value to the latest schema.
//! - For the record-name strategies an optional schema is named after its
//!   non-null branch.
//! - Bytes left over after the Avro value are an error.
//! - The embedded registry derives ids from the schema (see
//!   [`EmbeddedRegistry`]) instead of counting from 1.

mod codec;
mod json;
mod registry;
pub mod schema;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{
    ConfigDef, ConfigIssue, ConfigKey, ConfigType, Importance, Properties, Validator,
};
use crate::convert::{ConvertError, Converter, SchemaAndValue};
use crate::data::{DataError, Schema, SchemaRef, SchemaType, Value};

pub use registry::{
    EmbeddedRegistry, HttpRegistry, HttpRegistryConfig, RegisteredSchema, RegistryError,
    SchemaRegistry,
};
pub use schema::AvroData;

use schema::{Dec, AVRO_TYPE_UNION, DEFAULT_SCHEMA_FULL_NAME};

/// `schema.registry.url`: comma-separated registry URLs; unset or
/// `mock://<scope>` for the embedded registry.
pub const SCHEMA_REGISTRY_URL_CONFIG: &str = "schema.registry.url";
/// `basic.auth.credentials.source`: `URL` (user info in the URL) or
/// `USER_INFO` (from `basic.auth.user.info`).
pub const BASIC_AUTH_CREDENTIALS_SOURCE_CONFIG: &str = "basic.auth.credentials.source";
/// `basic.auth.user.info`: `user:password` for Basic authentication.
pub const BASIC_AUTH_USER_INFO_CONFIG: &str = "basic.auth.user.info";
/// `schema.registry.basic.auth.user.info`: the older name of
/// `basic.auth.user.info`.
pub const SCHEMA_REGISTRY_USER_INFO_CONFIG: &str = "schema.registry.basic.auth.user.info";
/// `auto.register.schemas`: register new schemas (default `true`).
pub const AUTO_REGISTER_SCHEMAS_CONFIG: &str = "auto.register.schemas";
/// `use.latest.version`: write with the subject's latest schema id.
pub const USE_LATEST_VERSION_CONFIG: &str = "use.latest.version";
/// `key.subject.name.strategy`: subject naming for keys.
pub const KEY_SUBJECT_NAME_STRATEGY_CONFIG: &str = "key.subject.name.strategy";
/// `value.subject.name.strategy`: subject naming for values.
pub const VALUE_SUBJECT_NAME_STRATEGY_CONFIG: &str = "value.subject.name.strategy";
/// `connect.meta.data`: write and read the `connect.*` schema properties.
pub const CONNECT_META_DATA_CONFIG: &str = "connect.meta.data";
/// `schemas.cache.config`: how many schemas each cache of a converter keeps.
pub const SCHEMAS_CACHE_SIZE_CONFIG: &str = "schemas.cache.config";
/// `http.connect.timeout.ms`: time to connect to the registry.
pub const HTTP_CONNECT_TIMEOUT_MS_CONFIG: &str = "http.connect.timeout.ms";
/// `http.read.timeout.ms`: time to wait for the registry's answer.
pub const HTTP_READ_TIMEOUT_MS_CONFIG: &str = "http.read.timeout.ms";

const TOPIC_NAME_STRATEGY: &str = "io.confluent.kafka.serializers.subject.TopicNameStrategy";
const RECORD_NAME_STRATEGY: &str = "io.confluent.kafka.serializers.subject.RecordNameStrategy";
const TOPIC_RECORD_NAME_STRATEGY: &str =
    "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy";

/// Why an Avro schema or value could not be mapped.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AvroError {
    /// A Connect schema with no Avro equivalent.
    #[error("cannot map Connect schema {schema} to Avro: {message}")]
    ToAvro {
        /// The schema's name or shape.
        schema: String,
        /// What is wrong.
        message: String,
    },
    /// An Avro schema with no Connect equivalent, or malformed.
    #[error("cannot map Avro schema to Connect: {0}")]
    ToConnect(String),
    /// A malformed Connect schema or value.
    #[error(transparent)]
    Data(#[from] DataError),
}

impl From<AvroError> for ConvertError {
    fn from(e: AvroError) -> Self {
        match e {
            AvroError::Data(d) => ConvertError::Data(d),
            other => ConvertError::Serialization(other.to_string()),
        }
    }
}

/// Which subject a schema is registered under (Confluent's
/// `*.subject.name.strategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubjectNameStrategy {
    /// `<topic>-key` / `<topic>-value` (the default).
    TopicName,
    /// The record's full name.
    RecordName,
    /// `<topic>-<record full name>`.
    TopicRecordName,
}

impl SubjectNameStrategy {
    /// The strategy for a Confluent class name
    /// (`io.confluent.kafka.serializers.subject.TopicNameStrategy`) or its
    /// short form (`TopicNameStrategy`).
    pub fn from_class_name(name: &str) -> Option<Self> {
        let short = name.trim().rsplit('.').next().unwrap_or_default();
        match short {
            "TopicNameStrategy" => Some(SubjectNameStrategy::TopicName),
            "RecordNameStrategy" => Some(SubjectNameStrategy::RecordName),
            "TopicRecordNameStrategy" => Some(SubjectNameStrategy::TopicRecordName),
            _ => None,
        }
    }

    /// Confluent's class name of the strategy.
    pub fn class_name(self) -> &'static str {
        match self {
            SubjectNameStrategy::TopicName => TOPIC_NAME_STRATEGY,
            SubjectNameStrategy::RecordName => RECORD_NAME_STRATEGY,
            SubjectNameStrategy::TopicRecordName => TOPIC_RECORD_NAME_STRATEGY,
        }
    }

    /// The subject for a key (`is_key`) or value of `topic` whose Avro
    /// schema's full name is `record_name`.
    ///
    /// ```
    /// use timely_connect::convert::avro::SubjectNameStrategy as S;
    /// assert_eq!(S::TopicName.subject("orders", false, "com.x.Order"), "orders-value");
    /// assert_eq!(S::RecordName.subject("orders", true, "com.x.Order"), "com.x.Order");
    /// assert_eq!(S::TopicRecordName.subject("orders", false, "com.x.Order"), "orders-com.x.Order");
    /// ```
    pub fn subject(self, topic: &str, is_key: bool, record_name: &str) -> String {
        match self {
            SubjectNameStrategy::TopicName => {
                format!("{topic}-{}", if is_key { "key" } else { "value" })
            }
            SubjectNameStrategy::RecordName => record_name.to_owned(),
            SubjectNameStrategy::TopicRecordName => format!("{topic}-{record_name}"),
        }
    }
}

/// The name the record-name strategies use for a schema: a record's full
/// name (`io.confluent.connect.avro.ConnectDefault` when unnamed), else the
/// Avro type name (`string`, `array`, …). An optional schema is named
/// after its non-null branch.
pub fn record_name(schema: &Schema) -> String {
    match schema.schema_type {
        SchemaType::Struct if schema.name.as_deref() == Some(AVRO_TYPE_UNION) => "union".into(),
        SchemaType::Struct => schema
            .name
            .clone()
            .unwrap_or_else(|| DEFAULT_SCHEMA_FULL_NAME.to_owned()),
        SchemaType::Int8 | SchemaType::Int16 | SchemaType::Int32 => "int".into(),
        SchemaType::Int64 => "long".into(),
        SchemaType::Float32 => "float".into(),
        SchemaType::Float64 => "double".into(),
        SchemaType::Boolean => "boolean".into(),
        SchemaType::String => "string".into(),
        SchemaType::Bytes => "bytes".into(),
        SchemaType::Array => "array".into(),
        SchemaType::Map => match schema.key_schema.as_deref() {
            Some(k) if k.schema_type == SchemaType::String && !k.optional => "map".into(),
            _ => "array".into(),
        },
    }
}

/// The keys of the Avro converter, with Confluent's names and defaults.
pub fn avro_config_def() -> ConfigDef {
    let strategy_doc = "How subjects are named: TopicNameStrategy (`<topic>-key` / \
                        `<topic>-value`), RecordNameStrategy (the record's full name) or \
                        TopicRecordNameStrategy (`<topic>-<full name>`); Confluent's class names \
                        (io.confluent.kafka.serializers.subject.*) or the short names.";
    ConfigDef::new()
        .define(
            ConfigKey::new(
                SCHEMA_REGISTRY_URL_CONFIG,
                ConfigType::List,
                Importance::High,
                "Comma-separated schema registry URLs; the first reachable one is used. Unset, \
                 or `mock://<scope>`, uses the in-process registry of that scope, shared by all \
                 converters and workers of the process, with ids derived from the schema so \
                 every process agrees.",
            )
            .default_value(""),
        )
        .define(
            ConfigKey::new(
                BASIC_AUTH_CREDENTIALS_SOURCE_CONFIG,
                ConfigType::String,
                Importance::Medium,
                "Where Basic authentication credentials come from: URL (user info in the \
                 registry URL) or USER_INFO (basic.auth.user.info).",
            )
            .default_value("URL")
            .validator(Validator::one_of(&["URL", "USER_INFO", "SASL_INHERIT"])),
        )
        .define(
            ConfigKey::new(
                BASIC_AUTH_USER_INFO_CONFIG,
                ConfigType::Password,
                Importance::Medium,
                "`user:password` for Basic authentication, with \
                 basic.auth.credentials.source=USER_INFO.",
            )
            .optional(),
        )
        .define(
            ConfigKey::new(
                SCHEMA_REGISTRY_USER_INFO_CONFIG,
                ConfigType::Password,
                Importance::Low,
                "Older name of basic.auth.user.info.",
            )
            .optional(),
        )
        .define(
            ConfigKey::new(
                AUTO_REGISTER_SCHEMAS_CONFIG,
                ConfigType::Boolean,
                Importance::Medium,
                "Register a record's schema if the subject does not have it yet. With false, \
                 the schema must already be registered under its subject.",
            )
            .default_value("true"),
        )
        .define(
            ConfigKey::new(
                USE_LATEST_VERSION_CONFIG,
                ConfigType::Boolean,
                Importance::Low,
                "With auto.register.schemas=false: write with the id of the subject's latest \
                 schema, which must encode like the record's schema.",
            )
            .default_value("false"),
        )
        .define(
            ConfigKey::new(
                KEY_SUBJECT_NAME_STRATEGY_CONFIG,
                ConfigType::Class,
                Importance::Medium,
                strategy_doc,
            )
            .default_value(TOPIC_NAME_STRATEGY),
        )
        .define(
            ConfigKey::new(
                VALUE_SUBJECT_NAME_STRATEGY_CONFIG,
                ConfigType::Class,
                Importance::Medium,
                strategy_doc,
            )
            .default_value(TOPIC_NAME_STRATEGY),
        )
        .define(
            ConfigKey::new(
                CONNECT_META_DATA_CONFIG,
                ConfigType::Boolean,
                Importance::Low,
                "Write the Connect schema's name, version, doc, parameters and default into \
                 the Avro schema as connect.* properties (and read them back).",
            )
            .default_value("true"),
        )
        .define(
            ConfigKey::new(
                SCHEMAS_CACHE_SIZE_CONFIG,
                ConfigType::Int,
                Importance::Low,
                "How many schemas each converter caches, in each direction.",
            )
            .default_value("1000")
            .validator(Validator::at_least(1.0)),
        )
        .define(
            ConfigKey::new(
                HTTP_CONNECT_TIMEOUT_MS_CONFIG,
                ConfigType::Int,
                Importance::Low,
                "Milliseconds to wait for a connection to the registry.",
            )
            .default_value("60000")
            .validator(Validator::at_least(1.0)),
        )
        .define(
            ConfigKey::new(
                HTTP_READ_TIMEOUT_MS_CONFIG,
                ConfigType::Int,
                Importance::Low,
                "Milliseconds to wait for the registry's answer.",
            )
            .default_value("60000")
            .validator(Validator::at_least(1.0)),
        )
}

/// A Connect schema already mapped to Avro, with its ids per subject.
struct WriteEntry {
    /// Our own copy; its nested `Arc`s are the caller's, which makes the
    /// equality check on a hit mostly pointer comparisons.
    schema: Schema,
    avro: String,
    record_name: String,
    ids: HashMap<String, i32>,
}

/// A writer schema read from the registry.
struct ReadEntry {
    schema: SchemaRef,
    dec: Dec,
}

struct Configured {
    is_key: bool,
    registry: Arc<dyn SchemaRegistry>,
    strategy: SubjectNameStrategy,
    auto_register: bool,
    use_latest: bool,
    avro_data: AvroData,
    cache_size: usize,
    /// Most recently used first.
    write_cache: Vec<WriteEntry>,
    read_cache: HashMap<i32, Arc<ReadEntry>>,
}

/// Confluent's `io.confluent.connect.avro.AvroConverter`.
///
/// `from_connect` maps the Connect schema to Avro (once per schema; cached),
/// registers it under the subject the strategy names (once per subject;
/// cached), and writes magic byte `0`, the id (4 bytes, big-endian) and the
/// Avro binary value. `to_connect` reads the id, fetches the writer schema
/// (once per id; cached) and gives back the Connect schema and value — for
/// data this converter wrote, exactly the schema and value it was given.
///
/// ```
/// use timely_connect::config::Properties;
/// use timely_connect::convert::avro::AvroConverter;
/// use timely_connect::convert::Converter;
/// use timely_connect::data::{Schema, SchemaBuilder, Struct, Value};
///
/// let mut props = Properties::new();
/// // No URL would use the default embedded registry; a scope keeps this
/// // example's schemas apart.
/// props.insert("schema.registry.url".into(), "mock://avro-doc".into());
/// let mut converter = AvroConverter::new();
/// converter.configure(&props, false).unwrap();
///
/// let schema = SchemaBuilder::struct_()
///     .name("com.example.Click")
///     .field("user", Schema::int64())
///     .field("page", Schema::optional_string())
///     .build();
/// let click = Struct::new(schema.clone()).with("user", 7i64)?.with("page", "/home")?;
///
/// let mut bytes = Vec::new();
/// assert!(converter.from_connect("clicks", Some(&schema), &Value::Struct(click.clone()), &mut bytes)?);
/// assert_eq!(bytes[0], 0); // magic byte, then the schema id
///
/// let back = converter.to_connect("clicks", Some(&bytes))?;
/// assert_eq!(back.schema, Some(schema));
/// assert_eq!(back.value, Value::Struct(click));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct AvroConverter {
    configured: Option<Configured>,
}

impl std::fmt::Debug for AvroConverter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("AvroConverter");
        if let Some(c) = &self.configured {
            d.field("is_key", &c.is_key)
                .field("registry", &c.registry)
                .field("strategy", &c.strategy);
        }
        d.finish()
    }
}

impl AvroConverter {
    /// An unconfigured converter; call [`Converter::configure`] before use.
    pub fn new() -> Self {
        Self::default()
    }

    /// A converter configured with `registry` instead of one named by
    /// `schema.registry.url` (for tests and for custom registries).
    pub fn with_registry(
        registry: Arc<dyn SchemaRegistry>,
        configs: &Properties,
        is_key: bool,
    ) -> Result<Self, Vec<ConfigIssue>> {
        let mut c = AvroConverter::new();
        c.configure_with(configs, is_key, Some(registry))?;
        Ok(c)
    }

    /// The registry this converter uses, once configured.
    pub fn registry(&self) -> Option<&Arc<dyn SchemaRegistry>> {
        self.configured.as_ref().map(|c| &c.registry)
    }

    fn configure_with(
        &mut self,
        configs: &Properties,
        is_key: bool,
        registry: Option<Arc<dyn SchemaRegistry>>,
    ) -> Result<(), Vec<ConfigIssue>> {
        let parsed = avro_config_def().parse(configs)?;
        let mut issues = Vec::new();
        let strategy_key = if is_key {
            KEY_SUBJECT_NAME_STRATEGY_CONFIG
        } else {
            VALUE_SUBJECT_NAME_STRATEGY_CONFIG
        };
        let mut strategy = SubjectNameStrategy::TopicName;
        for key in [
            KEY_SUBJECT_NAME_STRATEGY_CONFIG,
            VALUE_SUBJECT_NAME_STRATEGY_CONFIG,
        ] {
            let name = parsed.string(key).unwrap_or(TOPIC_NAME_STRATEGY);
            match SubjectNameStrategy::from_class_name(name) {
                Some(s) if key == strategy_key => strategy = s,
                Some(_) => {}
                None => issues.push(ConfigIssue::new(
                    key,
                    format!(
                        "unknown subject name strategy `{name}`; use TopicNameStrategy, \
                         RecordNameStrategy or TopicRecordNameStrategy"
                    ),
                )),
            }
        }
        let source = parsed
            .string(BASIC_AUTH_CREDENTIALS_SOURCE_CONFIG)
            .unwrap_or("URL")
            .to_ascii_uppercase();
        let user_info = parsed
            .password(BASIC_AUTH_USER_INFO_CONFIG)
            .or_else(|| parsed.password(SCHEMA_REGISTRY_USER_INFO_CONFIG))
            .map(|p| p.value().to_owned());
        let user_info = match source.as_str() {
            "USER_INFO" => match user_info {
                Some(u) if u.contains(':') => Some(u),
                Some(_) => {
                    issues.push(ConfigIssue::new(
                        BASIC_AUTH_USER_INFO_CONFIG,
                        "must be `user:password`",
                    ));
                    None
                }
                None => {
                    issues.push(ConfigIssue::new(
                        BASIC_AUTH_USER_INFO_CONFIG,
                        "required with basic.auth.credentials.source=USER_INFO",
                    ));
                    None
                }
            },
            "SASL_INHERIT" => {
                issues.push(ConfigIssue::new(
                    BASIC_AUTH_CREDENTIALS_SOURCE_CONFIG,
                    "SASL_INHERIT is not supported (there is no Kafka client to inherit from); \
                     use USER_INFO",
                ));
                None
            }
            _ => None,
        };
        let urls: Vec<String> = parsed
            .list(SCHEMA_REGISTRY_URL_CONFIG)
            .map(<[String]>::to_vec)
            .unwrap_or_default()
            .into_iter()
            .filter(|u| !u.is_empty())
            .collect();
        let mocks: Vec<&str> = urls
            .iter()
            .filter_map(|u| u.strip_prefix("mock://"))
            .collect();
        let millis =
            |key: &str| Duration::from_millis(parsed.int(key).map_or(60_000, |v| v.max(1) as u64));
        let registry: Option<Arc<dyn SchemaRegistry>> = match registry {
            Some(r) => Some(r),
            None if urls.is_empty() => Some(EmbeddedRegistry::scoped("")),
            None if !mocks.is_empty() => {
                if mocks.len() != urls.len() {
                    issues.push(ConfigIssue::new(
                        SCHEMA_REGISTRY_URL_CONFIG,
                        "cannot mix mock:// and http(s):// URLs",
                    ));
                }
                Some(EmbeddedRegistry::scoped(mocks[0]))
            }
            None => {
                let bad: Vec<&str> = urls
                    .iter()
                    .filter(|u| !(u.starts_with("http://") || u.starts_with("https://")))
                    .map(String::as_str)
                    .collect();
                if !bad.is_empty() {
                    issues.push(ConfigIssue::new(
                        SCHEMA_REGISTRY_URL_CONFIG,
                        format!(
                            "URLs must start with http://, https:// or mock://, got `{}`",
                            bad.join(",")
                        ),
                    ));
                    None
                } else {
                    let config = HttpRegistryConfig {
                        urls: urls.clone(),
                        user_info,
                        connect_timeout: millis(HTTP_CONNECT_TIMEOUT_MS_CONFIG),
                        read_timeout: millis(HTTP_READ_TIMEOUT_MS_CONFIG),
                    };
                    match HttpRegistry::shared(&config) {
                        Ok(r) => Some(r),
                        Err(e) => {
                            issues.push(ConfigIssue::new(SCHEMA_REGISTRY_URL_CONFIG, e.message));
                            None
                        }
                    }
                }
            }
        };
        let Some(registry) = registry.filter(|_| issues.is_empty()) else {
            return Err(issues);
        };
        self.configured = Some(Configured {
            is_key,
            registry,
            strategy,
            auto_register: parsed.boolean(AUTO_REGISTER_SCHEMAS_CONFIG).unwrap_or(true),
            use_latest: parsed.boolean(USE_LATEST_VERSION_CONFIG).unwrap_or(false),
            avro_data: AvroData {
                connect_meta_data: parsed.boolean(CONNECT_META_DATA_CONFIG).unwrap_or(true),
            },
            cache_size: parsed
                .int(SCHEMAS_CACHE_SIZE_CONFIG)
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(1000)
                .max(1),
            write_cache: Vec::new(),
            read_cache: HashMap::new(),
        });
        Ok(())
    }
}

/// Schema equality that stops at shared `Arc`s: `ours` holds clones of the
/// caller's nested `Arc`s, so equal pointers mean the same (live) schema.
fn same_schema(ours: &Schema, theirs: &Schema) -> bool {
    fn same_ref(a: &SchemaRef, b: &SchemaRef) -> bool {
        Arc::ptr_eq(a, b) || same_schema(a, b)
    }
    fn same_opt(a: &Option<SchemaRef>, b: &Option<SchemaRef>) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => same_ref(a, b),
            (None, None) => true,
            _ => false,
        }
    }
    std::ptr::eq(ours, theirs)
        || (ours.schema_type == theirs.schema_type
            && ours.optional == theirs.optional
            && ours.name == theirs.name
            && ours.version == theirs.version
            && ours.doc == theirs.doc
            && ours.parameters == theirs.parameters
            && ours.default == theirs.default
            && ours.fields.len() == theirs.fields.len()
            && ours.fields.iter().zip(&theirs.fields).all(|(a, b)| {
                a.name == b.name && a.index == b.index && same_ref(&a.schema, &b.schema)
            })
            && same_opt(&ours.key_schema, &theirs.key_schema)
            && same_opt(&ours.value_schema, &theirs.value_schema))
}

impl Configured {
    /// The cache entry of `schema`, moved to the front; derived on a miss.
    fn write_entry(&mut self, schema: &Schema) -> Result<&mut WriteEntry, ConvertError> {
        let position = self
            .write_cache
            .iter()
            .position(|e| same_schema(&e.schema, schema));
        match position {
            Some(0) => {}
            Some(i) => {
                let entry = self.write_cache.remove(i);
                self.write_cache.insert(0, entry);
            }
            None => {
                let avro = self.avro_data.from_connect_schema(schema)?;
                if self.write_cache.len() >= self.cache_size {
                    self.write_cache.pop();
                }
                self.write_cache.insert(
                    0,
                    WriteEntry {
                        schema: schema.clone(),
                        avro,
                        record_name: record_name(schema),
                        ids: HashMap::new(),
                    },
                );
            }
        }
        self.write_cache
            .first_mut()
            .ok_or_else(|| ConvertError::Serialization("schema cache is empty".into()))
    }

    /// The id to write `entry`'s schema with under `subject`.
    fn resolve_id(
        registry: &dyn SchemaRegistry,
        auto_register: bool,
        use_latest: bool,
        subject: &str,
        avro: &str,
    ) -> Result<i32, ConvertError> {
        if auto_register {
            return Ok(registry.register(subject, avro)?);
        }
        if use_latest {
            let latest = registry
                .latest(subject)?
                .ok_or_else(|| ConvertError::Registry {
                    message: format!(
                        "subject `{subject}` has no schema, and auto.register.schemas=false \
                     (use.latest.version=true)"
                    ),
                    retriable: false,
                })?;
            let canonical = |text: &str| {
                apache_avro::Schema::parse_str(text)
                    .map(|s| s.canonical_form())
                    .map_err(|e| ConvertError::Serialization(format!("invalid Avro schema: {e}")))
            };
            if canonical(&latest.schema)? != canonical(avro)? {
                return Err(ConvertError::Registry {
                    message: format!(
                        "use.latest.version: the latest schema of subject `{subject}` (id {}, \
                         version {}) does not encode like the record's schema {avro}",
                        latest.id, latest.version
                    ),
                    retriable: false,
                });
            }
            return Ok(latest.id);
        }
        registry
            .lookup(subject, avro)?
            .ok_or_else(|| ConvertError::Registry {
                message: format!(
                    "schema not found under subject `{subject}`, and \
                     auto.register.schemas=false: {avro}"
                ),
                retriable: false,
            })
    }

    fn read_entry(&mut self, id: i32) -> Result<Arc<ReadEntry>, ConvertError> {
        if let Some(entry) = self.read_cache.get(&id) {
            return Ok(entry.clone());
        }
        let text = self.registry.schema_by_id(id)?;
        let (schema, dec) = self
            .avro_data
            .to_connect_with_decoder(&text)
            .map_err(|e| ConvertError::Serialization(format!("schema id {id}: {e}")))?;
        if self.read_cache.len() >= self.cache_size {
            self.read_cache.clear();
        }
        let entry = Arc::new(ReadEntry { schema, dec });
        self.read_cache.insert(id, entry.clone());
        Ok(entry)
    }
}

fn not_configured() -> ConvertError {
    ConvertError::Serialization("the Avro converter is used before configure()".into())
}

impl Converter for AvroConverter {
    fn config_def(&self) -> ConfigDef {
        avro_config_def()
    }

    fn configure(&mut self, configs: &Properties, is_key: bool) -> Result<(), Vec<ConfigIssue>> {
        self.configure_with(configs, is_key, None)
    }

    fn from_connect(
        &mut self,
        topic: &str,
        schema: Option<&Schema>,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<bool, ConvertError> {
        let c = self.configured.as_mut().ok_or_else(not_configured)?;
        let Some(schema) = schema else {
            if value.is_null() {
                return Ok(false);
            }
            return Err(ConvertError::Serialization(
                "the Avro converter needs a schema; schemaless values are not supported".into(),
            ));
        };
        if value.is_null() && (schema.optional || schema.default.is_none()) {
            if schema.optional {
                return Ok(false);
            }
            return Err(DataError::NullForRequired {
                field: if c.is_key { "key" } else { "value" }.into(),
                expected: schema.schema_type.name().into(),
            }
            .into());
        }
        let is_key = c.is_key;
        let strategy = c.strategy;
        let (auto_register, use_latest) = (c.auto_register, c.use_latest);
        let registry = c.registry.clone();
        let entry = c.write_entry(schema)?;
        let id = match entry.ids.get(topic_subject_key(strategy, topic)) {
            Some(id) => *id,
            None => {
                let subject = strategy.subject(topic, is_key, &entry.record_name);
                let id = Configured::resolve_id(
                    registry.as_ref(),
                    auto_register,
                    use_latest,
                    &subject,
                    &entry.avro,
                )?;
                entry
                    .ids
                    .insert(topic_subject_key(strategy, topic).to_owned(), id);
                id
            }
        };
        let start = out.len();
        out.push(0);
        out.extend_from_slice(&id.to_be_bytes());
        if let Err(e) = codec::encode(schema, value, out) {
            out.truncate(start);
            return Err(e
                .into_data_error(if is_key { "key" } else { "value" })
                .into());
        }
        Ok(true)
    }

    fn to_connect(
        &mut self,
        _topic: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConvertError> {
        let c = self.configured.as_mut().ok_or_else(not_configured)?;
        let Some(bytes) = bytes else {
            return Ok(SchemaAndValue {
                schema: None,
                value: Value::Null,
            });
        };
        let (header, body) = match bytes {
            [0, a, b, c, d, body @ ..] => ([*a, *b, *c, *d], body),
            [magic, ..] if *magic != 0 => {
                return Err(ConvertError::Serialization(format!(
                    "unknown magic byte {magic}: not Avro in Confluent's wire format (magic \
                     byte 0, 4-byte schema id)"
                )))
            }
            _ => {
                return Err(ConvertError::Serialization(format!(
                    "{} bytes are too few for Confluent's wire format (magic byte 0, 4-byte \
                     schema id, Avro data)",
                    bytes.len()
                )))
            }
        };
        let id = i32::from_be_bytes(header);
        let entry = c.read_entry(id)?;
        let mut reader = codec::Reader::new(body);
        let value = reader.value(&entry.dec).map_err(|e| match e {
            codec::DecodeError::Data(d) => ConvertError::Data(d),
            other => ConvertError::Serialization(format!(
                "cannot read Avro data of schema id {id}: {other}"
            )),
        })?;
        if reader.remaining() > 0 {
            return Err(ConvertError::Serialization(format!(
                "{} bytes left over after the Avro value of schema id {id}",
                reader.remaining()
            )));
        }
        Ok(SchemaAndValue {
            schema: Some(entry.schema.clone()),
            value,
        })
    }
}

/// The key under which a write-cache entry remembers its id: the subject
/// depends on the topic only for the topic strategies.
fn topic_subject_key(strategy: SubjectNameStrategy, topic: &str) -> &str {
    match strategy {
        SubjectNameStrategy::RecordName => "",
        _ => topic,
    }
}

#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;
