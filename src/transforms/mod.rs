//! Single message transforms (SMTs) and predicates, as Kafka Connect has
//! them: configured with `transforms=…`, `transforms.<name>.type`,
//! `transforms.<name>.predicate`, `transforms.<name>.negate` and
//! `predicates=…`, applied to each record between `poll()` and emission.

use std::sync::Arc;

mod cast;
mod chain;
mod drop_headers;
mod extract_field;
mod field_path;
mod filter;
mod flatten;
mod header_from;
mod hoist_field;
mod insert_field;
mod insert_header;
mod mask_field;
mod predicates;
mod regex_router;
mod registry;
mod replace_field;
mod set_schema_metadata;
pub mod simple_date_format;
mod timestamp_converter;
mod timestamp_router;
pub mod util;
mod value_to_key;

#[cfg(test)]
mod test_util;

pub use cast::Cast;
pub use chain::{ChainError, StagePredicate, TransformChain, TransformStage};
pub use drop_headers::DropHeaders;
pub use extract_field::ExtractField;
pub use filter::Filter;
pub use flatten::Flatten;
pub use header_from::HeaderFrom;
pub use hoist_field::HoistField;
pub use insert_field::InsertField;
pub use insert_header::InsertHeader;
pub use mask_field::MaskField;
pub use predicates::{HasHeaderKey, RecordIsTombstone, TopicNameMatches};
pub use regex_router::RegexRouter;
pub use registry::{PluginInfo, TransformRegistry};
pub use replace_field::ReplaceField;
pub use set_schema_metadata::SetSchemaMetadata;
pub use timestamp_converter::TimestampConverter;
pub use timestamp_router::TimestampRouter;
pub use util::Side;
pub use value_to_key::ValueToKey;

use crate::config::{ConfigDef, ConfigIssue, Properties};
use crate::data::{DataError, SourceRecord};

/// Why a transform or predicate failed on a record. Kafka's transforms
/// throw `DataException` for these; [`TransformError::exception_class`]
/// names it for dead-letter context.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TransformError {
    /// A value that does not fit its schema, or a schema the transform
    /// cannot handle; names the field.
    #[error("{0}")]
    Data(#[from] DataError),
    /// Any other problem with the record (a missing field, a value the
    /// transform cannot parse, …).
    #[error("{0}")]
    Invalid(String),
}

impl TransformError {
    /// The Java exception class Kafka reports for this error.
    pub fn exception_class(&self) -> &'static str {
        "org.apache.kafka.connect.errors.DataException"
    }
}

/// Kafka Connect's `Transformation<SourceRecord>`.
pub trait Transformation: Send {
    /// The keys this transform takes (without the `transforms.<name>.`
    /// prefix).
    fn config_def(&self) -> ConfigDef;

    /// Configures the transform with its own keys, prefix removed.
    /// Returns every problem at once.
    fn configure(&mut self, configs: &Properties) -> Result<(), Vec<ConfigIssue>>;

    /// Transforms one record; `Ok(None)` drops it (as Kafka's `null`).
    fn apply(&mut self, record: SourceRecord) -> Result<Option<SourceRecord>, TransformError>;
}

/// Kafka Connect's `Predicate<SourceRecord>`.
pub trait Predicate: Send {
    /// The keys this predicate takes (without the `predicates.<name>.`
    /// prefix).
    fn config_def(&self) -> ConfigDef;

    /// Configures the predicate with its own keys, prefix removed.
    fn configure(&mut self, configs: &Properties) -> Result<(), Vec<ConfigIssue>>;

    /// Whether the record matches.
    fn test(&self, record: &SourceRecord) -> bool;
}

/// Makes a new, unconfigured transform.
pub type TransformFactory = Arc<dyn Fn() -> Box<dyn Transformation> + Send + Sync>;

/// Makes a new, unconfigured predicate.
pub type PredicateFactory = Arc<dyn Fn() -> Box<dyn Predicate> + Send + Sync>;
