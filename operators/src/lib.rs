//! # timely-connect-operators
//!
//! The Timely side of timely-connect: the source operator that runs a
//! connector's tasks ([`ConnectSource`]), the checkpoint coordinator that turns
//! epochs into durable snapshots ([`Checkpoint`]), the exactly-once file sink
//! ([`ExactlyOnceFileSink`]) and the [`Job`] that ties them together; for
//! differential dataflow, change records as a collection
//! ([`ChangeCollection`]), operator state kept in snapshots
//! ([`OperatorState`]) and a collection's changes written exactly once
//! ([`ExactlyOnceChanges`]).
//!
//! This crate re-exports [`timely_connect`], so a pipeline needs one dependency.
//!
//! ```
//! use timely_connect_operators::{Job, JobSpec, ConnectSource, Checkpoint};
//! use timely::dataflow::operators::Inspect;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let mut props = timely_connect::Properties::new();
//! props.insert("name".into(), "gen".into());
//! props.insert("connector.class".into(), "Datagen".into());
//! props.insert("quickstart".into(), "orders".into());
//! props.insert("max.messages".into(), "100".into());
//! let spec = JobSpec::new(props)
//!     .snapshot_dir(dir.path())
//!     .until_idle(std::time::Duration::from_millis(300));
//! timely::execute(timely::Config::thread(), move |worker| {
//!     let job = Job::prepare(worker, &spec).unwrap();
//!     worker.dataflow::<u64, _, _>(|scope| {
//!         let source = scope.connect_source(&job);
//!         source.records.clone().inspect(|_record| { /* your pipeline */ });
//!         scope.checkpoint(&job, vec![source.parts]);
//!     });
//!     job.run(worker).unwrap();
//! }).unwrap();
//! ```
#![warn(missing_docs)]

pub use timely_connect;

mod allocator;
mod changes;
mod checkpoint;
mod collection_sink;
mod file_sink;
mod job;
mod operator_state;
mod reconfigure;
mod source;

pub mod metrics_http;
pub use allocator::disable_transparent_huge_pages;
pub use changes::{ChangeCollection, ChangeFormat, Changes};
pub use checkpoint::Checkpoint;
pub use collection_sink::{ExactlyOnceChangeEvents, ExactlyOnceChanges};
pub use file_sink::{render_blocks, ExactlyOnceBytesSink, ExactlyOnceFileSink};
pub use job::{default_registry, Job, JobError, JobSpec, JobStats, Plan, RestoreMode};
pub use operator_state::{OperatorState, Replaced};
pub use source::{ConnectSource, SourceStreams};
pub use timely_connect::runtime::CheckpointPart;
