//! Errors a connector or task reports.

/// An error from connector or task code.
///
/// `Retriable` errors from [`crate::SourceTask::poll`] are retried with
/// backoff (Kafka's `RetriableException`); everything else fails the task.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectError {
    /// A transient problem; the framework retries the call.
    #[error("retriable: {0}")]
    Retriable(String),
    /// The connector's configuration is wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// Anything else; the task fails.
    #[error("{0}")]
    Fatal(String),
}

impl ConnectError {
    /// A retriable error.
    pub fn retriable(msg: impl Into<String>) -> Self {
        ConnectError::Retriable(msg.into())
    }

    /// A fatal error.
    pub fn fatal(msg: impl Into<String>) -> Self {
        ConnectError::Fatal(msg.into())
    }

    /// True for [`ConnectError::Retriable`].
    pub fn is_retriable(&self) -> bool {
        matches!(self, ConnectError::Retriable(_))
    }
}
