//! Plugin isolation inside one Timely job: two Java connectors whose
//! plugins ship different versions of the same class
//! (`com.example.iso.Lib`, tests/java/plugins/tc-iso-a and tc-iso-b) run in
//! one timely computation, in one JVM, each seeing its own version, each
//! with its own exactly-once output and snapshots.

mod common;

use std::time::Duration;

use common::java::test_plugins;
use timely_connect::Properties;
use timely_connect_operators::{Checkpoint, ConnectSource, ExactlyOnceFileSink, Job, JobSpec};

#[test]
fn two_plugins_with_conflicting_classes_run_side_by_side_in_one_job() {
    let dir = common::tempdir();
    let specs: Vec<(JobSpec, std::path::PathBuf)> = ["IsoA", "IsoB"]
        .iter()
        .map(|class| {
            let mut props = Properties::new();
            for (k, v) in [
                ("name", class.to_lowercase()),
                ("connector.class", class.to_string()),
                ("plugin.path", test_plugins().display().to_string()),
            ] {
                props.insert(k.to_owned(), v);
            }
            let spec = JobSpec::new(props)
                .snapshot_dir(dir.path().join(format!("snaps-{class}")))
                .snapshot_interval(Duration::from_millis(100))
                .until_idle(Duration::from_millis(1500));
            (spec, dir.path().join(format!("{class}.jsonl")))
        })
        .collect();
    let result = timely::execute(timely::Config::thread(), move |worker| {
        let mut jobs = Vec::new();
        for (spec, output) in &specs {
            let job = Job::prepare(worker, spec).map_err(|e| e.to_string())?;
            worker.dataflow::<u64, _, _>(|scope| {
                let source = scope.connect_source(&job);
                let written = source.records.exactly_once_file(&job, output, "output");
                scope.checkpoint(&job, vec![source.parts, written]);
            });
            jobs.push(job);
        }
        for job in &jobs {
            job.run(worker).map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    })
    .expect("timely starts");
    for r in result.join() {
        r.expect("worker").expect("both connectors ran");
    }
    for (class, lib) in [("IsoA", "lib-A"), ("IsoB", "lib-B")] {
        let out = String::from_utf8(common::read(&dir.path().join(format!("{class}.jsonl"))))
            .expect("utf-8");
        assert_eq!(
            out.lines().collect::<Vec<_>>(),
            [format!("{class}Connector sees {lib}")],
            "{class} saw its own plugin's com.example.iso.Lib"
        );
    }
}
