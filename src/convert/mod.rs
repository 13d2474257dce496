//! Converters: Connect values to bytes and back, as Kafka Connect's
//! `Converter` and `HeaderConverter` do.
//!
//! A converter is chosen by `key.converter`, `value.converter` or
//! `header.converter` (our name or Kafka's Java class name) and configured
//! with the keys under that prefix (`value.converter.schemas.enable=false`
//! configures the value converter with `schemas.enable=false`).
//!
//! - [`JsonConverter`]: Kafka's JSON converter, byte-identical output.
//! - [`StringConverter`], [`ByteArrayConverter`]: text and raw bytes.
//! - [`SimpleHeaderConverter`]: Kafka's default header converter.
//! - [`ConverterRegistry`]: names (ours and Kafka's class names) to
//!   factories; [`ConverterConfig`]: a connector's `key.converter`,
//!   `value.converter` and `header.converter` checked once, then
//!   instantiated per worker.

#[cfg(feature = "avro")]
pub mod avro;

use std::sync::Arc;

pub mod bytes;
pub mod header;
pub(crate) mod java_fmt;
pub mod json;
pub mod registry;
pub mod string;

pub use bytes::ByteArrayConverter;
pub use header::SimpleHeaderConverter;
pub use string::StringConverter;

pub use json::{DecimalFormat, JsonConverter};
pub use registry::{ConverterConfig, ConverterRegistry};

use crate::config::{ConfigDef, ConfigIssue, Properties};
use crate::data::{DataError, Schema, SchemaRef, Value};

/// A schema and a value: what [`Converter::to_connect`] returns (Kafka's
/// `SchemaAndValue`). `schema` is `None` for schemaless data.
#[derive(Clone, Debug, PartialEq)]
pub struct SchemaAndValue {
    /// The value's schema, if it has one.
    pub schema: Option<SchemaRef>,
    /// The value.
    pub value: Value,
}

/// Why a conversion failed. [`ConvertError::exception_class`] gives the
/// Java exception class Kafka would have thrown, for dead-letter context.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ConvertError {
    /// A value that does not fit its schema (Kafka's `DataException`).
    #[error("{0}")]
    Data(#[from] DataError),
    /// Bytes that cannot be read, or a value that cannot be written
    /// (Kafka's `DataException` wrapping a `SerializationException`).
    #[error("{0}")]
    Serialization(String),
    /// A schema registry call failed; `retriable` when trying again may
    /// succeed (a connection problem, a 5xx answer).
    #[error("schema registry: {message}")]
    Registry {
        /// What went wrong.
        message: String,
        /// Whether a retry may succeed.
        retriable: bool,
    },
}

impl ConvertError {
    /// The Java exception class Kafka reports for this error.
    pub fn exception_class(&self) -> &'static str {
        match self {
            ConvertError::Data(_) | ConvertError::Serialization(_) => {
                "org.apache.kafka.connect.errors.DataException"
            }
            ConvertError::Registry {
                retriable: true, ..
            } => "org.apache.kafka.connect.errors.RetriableException",
            ConvertError::Registry { .. } => {
                "org.apache.kafka.common.errors.SerializationException"
            }
        }
    }

    /// Whether trying again may succeed.
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            ConvertError::Registry {
                retriable: true,
                ..
            }
        )
    }
}

/// Kafka Connect's `Converter`: turns a record's key or value into bytes
/// and back.
///
/// One instance serves one role (key or value) on one worker; it may keep
/// caches, hence `&mut self`.
// The method names mirror Kafka's `fromConnectData` / `toConnectData`.
#[allow(clippy::wrong_self_convention)]
pub trait Converter: Send {
    /// The keys this converter takes (without the `value.converter.`
    /// prefix), for validation and documentation.
    fn config_def(&self) -> ConfigDef;

    /// Kafka's `configure(configs, isKey)`: `configs` holds the converter's
    /// own keys with the prefix removed. Returns every problem at once.
    fn configure(&mut self, configs: &Properties, is_key: bool) -> Result<(), Vec<ConfigIssue>>;

    /// Kafka's `fromConnectData(topic, schema, value)`: appends the bytes
    /// of `value` to `out` and returns `Ok(true)`, or returns `Ok(false)`
    /// (appending nothing) when the result is Kafka's `null` (no bytes at
    /// all, as for a tombstone).
    #[allow(clippy::wrong_self_convention)] // Kafka's name
    fn from_connect(
        &mut self,
        topic: &str,
        schema: Option<&Schema>,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<bool, ConvertError>;

    /// Kafka's `toConnectData(topic, bytes)`; `None` is Kafka's `null`.
    fn to_connect(
        &mut self,
        topic: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConvertError>;
}

/// Kafka Connect's `HeaderConverter`: turns one header value into bytes
/// and back.
#[allow(clippy::wrong_self_convention)]
pub trait HeaderConverter: Send {
    /// The keys this converter takes, without the `header.converter.` prefix.
    fn config_def(&self) -> ConfigDef;

    /// Configures the converter with its own keys, prefix removed.
    fn configure(&mut self, configs: &Properties) -> Result<(), Vec<ConfigIssue>>;

    /// Kafka's `fromConnectHeader(topic, headerKey, schema, value)`, with
    /// the same `out` / `Ok(false)` convention as [`Converter::from_connect`].
    #[allow(clippy::wrong_self_convention)] // Kafka's name
    fn from_connect_header(
        &mut self,
        topic: &str,
        header_key: &str,
        schema: Option<&Schema>,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<bool, ConvertError>;

    /// Kafka's `toConnectHeader(topic, headerKey, bytes)`.
    fn to_connect_header(
        &mut self,
        topic: &str,
        header_key: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConvertError>;
}

/// Makes a new, unconfigured converter.
pub type ConverterFactory = Arc<dyn Fn() -> Box<dyn Converter> + Send + Sync>;

/// Makes a new, unconfigured header converter.
pub type HeaderConverterFactory = Arc<dyn Fn() -> Box<dyn HeaderConverter> + Send + Sync>;
