//! A connector of your own in about eighty lines: a counter with one source
//! partition, restored from its offset, run through the same operators as
//! the built-in connectors.
//!
//! ```text
//! cargo run -p timely-connect-operators --example custom_connector
//! ```

use std::sync::Arc;
use std::time::Duration;

use timely::dataflow::operators::Inspect;
use timely_connect::api::TaskConfig;
use timely_connect::config::{ConfigDef, ConfigKey, ConfigType, Importance, Validator};
use timely_connect::data::{Schema, SourceOffset, SourcePartition, SourceRecord, Value};
use timely_connect::plugins::PluginSet;
use timely_connect::{ConnectError, Properties, SourceConnector, SourceTask, SourceTaskContext};
use timely_connect_operators::{Checkpoint, ConnectSource, Job, JobSpec};

/// Counts from where the last snapshot left off up to `count.to`.
#[derive(Default)]
struct Counter {
    props: Properties,
}

impl SourceConnector for Counter {
    fn version(&self) -> String {
        "1.0".to_owned()
    }
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new().define(
            ConfigKey::new(
                "count.to",
                ConfigType::Long,
                Importance::High,
                "Last number to emit.",
            )
            .default_value("1000")
            .validator(Validator::at_least(0.0)),
        )
    }
    fn start(&mut self, props: &Properties) -> Result<(), ConnectError> {
        self.props = props.clone();
        Ok(())
    }
    fn task_configs(&self, _max_tasks: usize) -> Result<Vec<TaskConfig>, ConnectError> {
        Ok(vec![self.props.clone()]) // one partition, so one task
    }
    fn create_task(&self) -> Box<dyn SourceTask> {
        Box::new(CounterTask::default())
    }
}

#[derive(Default)]
struct CounterTask {
    next: i64,
    last: i64,
    partition: Option<SourcePartition>,
    key: Option<Arc<str>>,
    topic: Option<Arc<str>>,
    context: Option<SourceTaskContext>,
}

impl SourceTask for CounterTask {
    fn start(&mut self, context: SourceTaskContext) -> Result<(), ConnectError> {
        let partition = SourcePartition::single("counter", "main");
        let key = SourceOffset::key("n");
        // Resume after the last number the snapshot covers.
        self.next = context
            .offset_storage_reader()
            .offset(&partition)
            .and_then(|o| o.get_i64("n"))
            .map_or(0, |n| n + 1);
        self.last = context
            .configs()
            .get("count.to")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| ConnectError::Config("count.to must be a number".to_owned()))?;
        self.partition = Some(partition);
        self.key = Some(key);
        self.topic = Some(Arc::from("numbers"));
        self.context = Some(context);
        Ok(())
    }

    fn poll(&mut self) -> Result<Option<Vec<SourceRecord>>, ConnectError> {
        let (Some(p), Some(k), Some(t), Some(ctx)) =
            (&self.partition, &self.key, &self.topic, &self.context)
        else {
            return Err(ConnectError::fatal("poll before start"));
        };
        if self.next > self.last {
            ctx.stop_token().sleep(Duration::from_millis(100)); // nothing left: wait, don't spin
            return Ok(None);
        }
        let end = (self.next + 100).min(self.last + 1);
        let batch = (self.next..end)
            .map(|n| {
                SourceRecord::new(
                    p.clone(),
                    SourceOffset::int(k, n),
                    t.clone(),
                    Some(Schema::int64()),
                    Value::Int64(n),
                )
            })
            .collect();
        self.next = end;
        Ok(Some(batch))
    }
}

fn main() {
    let mut registry = PluginSet::builtin();
    registry.register("Counter", &[], "Counts upwards.", || {
        Box::new(Counter::default())
    });
    let mut props = Properties::new();
    props.insert("name".into(), "counter".into());
    props.insert("connector.class".into(), "Counter".into());
    props.insert("count.to".into(), "999".into());
    let spec = JobSpec::new(props)
        .registry(registry)
        .snapshot_dir("target/custom_connector/snapshots")
        .until_idle(Duration::from_millis(500));
    let result = timely::execute_from_args(std::env::args(), move |worker| {
        let job = Job::prepare(worker, &spec).map_err(|e| e.to_string())?;
        worker.dataflow::<u64, _, _>(|scope| {
            let source = scope.connect_source(&job);
            source.records.inspect_batch(|epoch, batch| {
                let sum: i64 = batch
                    .iter()
                    .filter_map(|r| {
                        if let Value::Int64(n) = r.value {
                            Some(n)
                        } else {
                            None
                        }
                    })
                    .sum();
                eprintln!("epoch {epoch}: {} numbers, sum {sum}", batch.len());
            });
            scope.checkpoint(&job, vec![source.parts]);
        });
        job.run(worker).map_err(|e| e.to_string())
    });
    if let Err(e) = result.map(|g| g.join()) {
        eprintln!("cannot start timely: {e}");
        std::process::exit(1);
    }
}
