//! Quickstart: generated orders into a Timely pipeline, with snapshots and an
//! exactly-once output file. Run it twice: the second run resumes from the
//! snapshot and adds nothing, because the first run already finished.
//!
//! ```text
//! cargo run -p timely-connect-operators --example quickstart -- [-w 2]
//! ```

use std::time::Duration;

use timely::dataflow::operators::vec::Filter;
use timely::dataflow::operators::Inspect;
use timely_connect::{Properties, Value};
use timely_connect_operators::{Checkpoint, ConnectSource, ExactlyOnceFileSink, Job, JobSpec};

fn main() {
    let mut props = Properties::new();
    for (key, value) in [
        ("name", "quickstart-orders"),
        ("connector.class", "Datagen"),
        ("quickstart", "orders"),
        ("max.messages", "10000"),
        ("tasks.max", "2"),
    ] {
        props.insert(key.to_owned(), value.to_owned());
    }
    let spec = JobSpec::new(props)
        .snapshot_dir("target/quickstart/snapshots")
        .snapshot_interval(Duration::from_millis(500))
        .until_idle(Duration::from_secs(1));
    let output = std::path::PathBuf::from("target/quickstart/orders.jsonl");
    if let Err(e) = std::fs::create_dir_all("target/quickstart") {
        eprintln!("cannot create target/quickstart: {e}");
        std::process::exit(1);
    }
    let job_spec = spec.clone();
    let result = timely::execute_from_args(std::env::args(), move |worker| {
        let job = Job::prepare(worker, &job_spec).map_err(|e| e.to_string())?;
        worker.dataflow::<u64, _, _>(|scope| {
            let source = scope.connect_source(&job);
            // Your pipeline: here, shipped orders counted per epoch.
            source
                .records
                .clone()
                .filter(|r| match &r.value {
                    Value::Struct(s) => s.get("status").and_then(Value::as_str) == Some("SHIPPED"),
                    _ => false,
                })
                .inspect_batch(|epoch, batch| {
                    if !batch.is_empty() {
                        eprintln!("epoch {epoch}: {} shipped orders", batch.len());
                    }
                });
            let written = source.records.exactly_once_file(&job, &output, "output");
            scope.checkpoint(&job, vec![source.parts, written]);
        });
        job.run(worker).map_err(|e| e.to_string())
    });
    match result.map(|guards| guards.join()) {
        Ok(results) => {
            for r in results {
                if let Ok(Err(e)) | Err(e) = r.map_err(|e| e.to_string()) {
                    eprintln!("job failed: {e}");
                    std::process::exit(1);
                }
            }
            eprintln!(
                "done: {} records this run; output in target/quickstart/orders.jsonl",
                spec.stats()
                    .records
                    .load(std::sync::atomic::Ordering::Relaxed)
            );
        }
        Err(e) => {
            eprintln!("cannot start timely: {e}");
            std::process::exit(1);
        }
    }
}
