//! The task runtime: each task on a thread of its own, handing batches to
//! the source operator over a bounded channel, retrying retriable errors with
//! backoff, and turning errors and panics into a [`TaskFailure`] that names the
//! connector, the task and the cause.
//!
//! The runtime knows nothing of Timely: the operator passes a `wake` callback
//! (a `SyncActivator` in practice) that the task thread calls after each batch.

mod checkpoint;
mod encode;
mod errors;
pub mod job;
mod metrics;
mod retry;
pub mod sink;
mod task;
mod task_set;

pub use checkpoint::{CheckpointPart, Checkpointer};
pub use encode::{EncodedRecord, Encoders, OutputSizes, Role};
pub use errors::{
    dead_letter, describe_record, headers, log_failure, write_dead_letter_json, FailureContext,
    RecordPosition, RecordProcessor, Stage, StageFailure,
};
pub use job::{JobConfig, JobError, Plan, RestoreMode};
pub use metrics::{JobMetrics, JobView, TaskMetrics, TaskState, TaskView};
pub use retry::RetryPolicy;
pub use task::{batch_offsets, spawn_task, TaskEvent, TaskFailure, TaskHandle, TaskSpec};
pub use task_set::{Drain, Drained, TaskSet};
