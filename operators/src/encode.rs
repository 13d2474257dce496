//! `encode`: turns a record stream into key/value/header bytes through the
//! job's converters, for users' own sinks, with conversion failures handled
//! by `errors.tolerance`.

use std::sync::Arc;

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;

use timely_connect::config::ErrorTolerance;
use timely_connect::data::SourceRecord;
use timely_connect::runtime::{
    dead_letter, describe_record, log_failure, EncodedRecord, Encoders, FailureContext,
};

use crate::job::{Job, Shared};

/// The streams of [`Encode::encode_with`].
pub struct EncodedStreams<'scope> {
    /// Records as bytes, at the epoch they came in.
    pub records: Stream<'scope, u64, Vec<EncodedRecord>>,
    /// Records a converter failed on, under `errors.tolerance=all`, with
    /// Kafka's `__connect.errors.*` context headers.
    pub dead_letters: Stream<'scope, u64, Vec<SourceRecord>>,
}

/// Converts records to bytes on the worker that holds them.
pub trait Encode<'scope> {
    /// Runs every record through `encoders` (this worker's converters).
    ///
    /// A record a converter fails on goes to the dead-letter stream under
    /// `errors.tolerance=all`; under `none` it fails the job with the
    /// stage, the converter's class and the record's source position, and
    /// the operator holds the record's epoch open so no snapshot covers it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use timely::dataflow::operators::Inspect;
    /// use timely_connect::convert::{Converter, ConvertError, SchemaAndValue};
    /// use timely_connect::config::{ConfigDef, ConfigIssue, Properties};
    /// use timely_connect::data::{Schema, Value};
    /// use timely_connect::runtime::{Encoders, Role};
    /// use timely_connect_operators::{Checkpoint, ConnectSource, Encode, Job, JobSpec};
    ///
    /// /// Writes a struct value's `id` field as decimal text.
    /// struct IdOnly;
    /// impl Converter for IdOnly {
    ///     fn config_def(&self) -> ConfigDef { ConfigDef::new() }
    ///     fn configure(&mut self, _: &Properties, _: bool) -> Result<(), Vec<ConfigIssue>> { Ok(()) }
    ///     fn from_connect(&mut self, _: &str, _: Option<&Schema>, v: &Value, out: &mut Vec<u8>)
    ///         -> Result<bool, ConvertError> {
    ///         let id = v.as_struct().and_then(|s| s.get("id")).and_then(Value::as_i64);
    ///         out.extend_from_slice(id.unwrap_or(-1).to_string().as_bytes());
    ///         Ok(true)
    ///     }
    ///     fn to_connect(&mut self, _: &str, _: Option<&[u8]>) -> Result<SchemaAndValue, ConvertError> {
    ///         Err(ConvertError::Serialization("write-only".into()))
    ///     }
    /// }
    ///
    /// let mut props = timely_connect::Properties::new();
    /// for (k, v) in [("name", "gen"), ("connector.class", "Datagen"), ("quickstart", "users"),
    ///                ("max.messages", "5")] {
    ///     props.insert(k.into(), v.into());
    /// }
    /// let spec = JobSpec::new(props).until_idle(Duration::from_millis(200));
    /// timely::execute(timely::Config::thread(), move |worker| {
    ///     let job = Job::prepare(worker, &spec).unwrap();
    ///     worker.dataflow::<u64, _, _>(|scope| {
    ///         let source = scope.connect_source(&job);
    ///         let encoders = Encoders {
    ///             value: Some(Role { class: "IdOnly".into(), converter: Box::new(IdOnly) }),
    ///             ..Encoders::default()
    ///         };
    ///         let encoded = source.records.encode_with(&job, encoders);
    ///         encoded.records.inspect(|r| assert!(r.value.is_some()));
    ///         scope.checkpoint(&job, vec![source.parts]);
    ///     });
    ///     job.run(worker).unwrap();
    /// }).unwrap();
    /// ```
    fn encode_with(self, job: &Job, encoders: Encoders) -> EncodedStreams<'scope>;
}

impl<'scope> Encode<'scope> for Stream<'scope, u64, Vec<SourceRecord>> {
    fn encode_with(self, job: &Job, mut encoders: Encoders) -> EncodedStreams<'scope> {
        let mut builder = OperatorBuilder::new("Encode".to_owned(), self.scope());
        let mut input = builder.new_input(self, Pipeline);
        let (mut records_out, records) = builder.new_output::<Vec<EncodedRecord>>();
        let (mut dead_out, dead_letters) = builder.new_output::<Vec<SourceRecord>>();
        let shared: Arc<Shared> = job.spec.shared.clone();
        let errors = job.common.errors;
        let connector = job.name().to_owned();
        builder.build(move |_caps| {
            // Held forever once a conversion failed the job: the failed
            // record's epoch must never complete.
            let mut held: Option<Capability<u64>> = None;
            move |_frontiers| {
                input.for_each(|time, data| {
                    if held.is_some() || shared.failure().is_some() {
                        if held.is_none() {
                            held = Some(time.retain(0));
                        }
                        data.clear();
                        return;
                    }
                    let context = FailureContext {
                        connector: &connector,
                        task_id: 0,
                    };
                    let mut encoded = Vec::with_capacity(data.len());
                    let mut dead = Vec::new();
                    for record in data.drain(..) {
                        match encoders.encode(&record) {
                            Ok(e) => encoded.push(e),
                            Err(failure) => {
                                log_failure(&errors, &context, &record, &failure);
                                if errors.tolerance == ErrorTolerance::All {
                                    dead.push(dead_letter(record, &context, &failure));
                                } else {
                                    shared.fail(format!(
                                        "connector `{connector}`: {failure} ({}; \
                                         errors.tolerance=none)",
                                        describe_record(&record)
                                    ));
                                    held = Some(time.retain(0));
                                    return;
                                }
                            }
                        }
                    }
                    if !encoded.is_empty() {
                        records_out.activate().give(&time, &mut encoded);
                    }
                    if !dead.is_empty() {
                        dead_out.activate().give(&time, &mut dead);
                    }
                });
            }
        });
        EncodedStreams {
            records,
            dead_letters,
        }
    }
}
