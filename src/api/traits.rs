//! `SourceConnector` and `SourceTask`.

use crate::config::{ConfigDef, ConfigIssue, Properties};
use crate::data::SourceRecord;

use super::context::SourceTaskContext;
use super::error::ConnectError;

/// One task's configuration: string keys and values, as in Kafka Connect.
pub type TaskConfig = Properties;

/// A source connector: validates its configuration and splits the work into
/// task configurations. It does not read data itself; its tasks do.
///
/// Lifecycle, as in Kafka Connect: [`SourceConnector::validate`], then
/// [`SourceConnector::start`] with the connector's properties, then
/// [`SourceConnector::task_configs`] once per job start, then
/// [`SourceConnector::stop`]. All calls come from one thread (worker 0's).
/// `task_configs` runs in exactly one place per job; its result is sent to
/// every worker, so it may look at external state.
pub trait SourceConnector: Send {
    /// The connector's version string.
    fn version(&self) -> String;

    /// The connector's configuration keys: the single source of its
    /// validation and of its generated documentation.
    fn config_def(&self) -> ConfigDef;

    /// Checks `props`, returning every problem at once. The default checks
    /// against [`SourceConnector::config_def`].
    fn validate(&self, props: &Properties) -> Vec<ConfigIssue> {
        match self.config_def().parse(props) {
            Ok(_) => Vec::new(),
            Err(issues) => issues,
        }
    }

    /// Starts the connector with its validated properties.
    fn start(&mut self, props: &Properties) -> Result<(), ConnectError>;

    /// Splits the work into at most `max_tasks` task configurations. Each
    /// source partition must belong to exactly one task. Task `i` runs on
    /// worker `i % workers`.
    fn task_configs(&self, max_tasks: usize) -> Result<Vec<TaskConfig>, ConnectError>;

    /// Keys whose value decides what the stored offsets mean: a snapshot
    /// taken with another value for one of them is refused on restore
    /// (unless the user allows foreign snapshots), because its offsets
    /// would be applied to other data. The file source names `file`.
    /// Default: none.
    fn identity_keys(&self) -> &'static [&'static str] {
        &[]
    }

    /// A new, unstarted task (Kafka's `taskClass()`).
    fn create_task(&self) -> Box<dyn SourceTask>;

    /// What the connector asked of the framework since the last call
    /// (Kafka's `ConnectorContext`): new task configurations, or to fail.
    /// Polled five times a second on the worker that runs the connector.
    /// Default: nothing.
    fn context_requests(&mut self) -> ConnectorRequests {
        ConnectorRequests::default()
    }

    /// Stops the connector. Called once, after its tasks are stopped.
    fn stop(&mut self) {}
}

/// What a connector asked of the framework (see
/// [`SourceConnector::context_requests`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectorRequests {
    /// `requestTaskReconfiguration()`: `task_configs` runs anew and, if the
    /// configs changed, the running job replaces its tasks at an epoch
    /// boundary, carrying every source partition's offset over (no restart;
    /// requests are coalesced to one per snapshot interval).
    pub reconfigure: bool,
    /// `raiseError(e)`: the job fails with this error.
    pub error: Option<String>,
}

/// A source task: reads records from its share of the source.
///
/// Each task runs on a thread of its own, so [`SourceTask::poll`] may block,
/// as in Kafka Connect; it should return within about a second when
/// [`SourceTaskContext::stop_token`] fires, or wait on that token.
///
/// Lifecycle: `start` → repeated `poll` (with `commit` / `commit_record`
/// between polls, once the snapshot covering earlier records is durable) →
/// `stop`. Every call is made on the task's own thread.
pub trait SourceTask: Send {
    /// Starts the task with its configuration and context. The context's
    /// [`crate::OffsetStorageReader`] holds the offsets restored from the last
    /// snapshot; a task resumes from them.
    fn start(&mut self, context: SourceTaskContext) -> Result<(), ConnectError>;

    /// Returns the next batch of records, or `Ok(None)` when there is nothing
    /// right now. May block. A [`ConnectError::Retriable`] error is retried
    /// with backoff (`errors.retry.timeout`, `errors.retry.delay.max.ms`);
    /// any other error, or a panic, fails the task and the job.
    fn poll(&mut self) -> Result<Option<Vec<SourceRecord>>, ConnectError>;

    /// Called after a snapshot that covers records this task returned became
    /// durable. [`SourceTaskContext::committed_offsets`] tells which offsets it
    /// covers. Unlike Kafka Connect, this is never called on a timer of its
    /// own: only after durability. Acknowledge upstream here.
    fn commit(&mut self) -> Result<(), ConnectError> {
        Ok(())
    }

    /// Whether the framework should keep each record until its snapshot is
    /// durable and then call [`SourceTask::commit_record`] for it. Off by
    /// default, because keeping every record costs memory.
    fn wants_commit_record(&self) -> bool {
        false
    }

    /// Whether every record this task returns is valid for its schemas by
    /// construction (the task builds values of schemas it owns). The
    /// framework then skips checking each record's key and value against
    /// their schemas after `poll`; a converter still fails on a value it
    /// cannot write. Off by default: records of other tasks are checked,
    /// so a bad one fails the task with an error that names it.
    fn records_match_schemas(&self) -> bool {
        false
    }

    /// Whether the records returned so far end inside one of the source's
    /// transactions: more records of it follow in later polls. Called on
    /// the task's thread right after each `poll` that returned records.
    /// While it says so, the framework does not close the epoch (and so
    /// takes no snapshot) between the records of that transaction, so a
    /// computation downstream never sees part of one, unless a stop of
    /// the job is requested meanwhile. Off by default: every batch ends at
    /// a boundary. (Kafka Connect's `transaction.boundary=connector` for
    /// exactly-once sources is the same idea.)
    fn in_transaction(&self) -> bool {
        false
    }

    /// Called for each record, in order, once the snapshot covering it is
    /// durable (only if [`SourceTask::wants_commit_record`]).
    fn commit_record(&mut self, record: &SourceRecord) -> Result<(), ConnectError> {
        let _ = record;
        Ok(())
    }

    /// Releases resources. Called on the task's thread after the last `poll`.
    /// To interrupt a blocking `poll` from another thread the framework fires
    /// the context's [`crate::api::StopToken`].
    fn stop(&mut self) {}
}
