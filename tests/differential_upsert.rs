//! The differential adapter's upsert format through a running job: a test
//! connector plays a script of keyed records (values, tombstones, a null
//! key); the collection must hold each key's latest value, lose keys at
//! their tombstones, survive a restore onto another worker count, and a
//! null key must fail the job with a message that names the record.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use timely::dataflow::operators::Inspect;
use timely_connect::api::TaskConfig;
use timely_connect::config::{ConfigDef, ConfigKey, ConfigType, Importance};
use timely_connect::data::{Schema, SourceOffset, SourcePartition, SourceRecord, Value};
use timely_connect::plugins::PluginSet;
use timely_connect::{ConnectError, Properties, SourceConnector, SourceTask, SourceTaskContext};
use timely_connect_operators::{
    ChangeCollection, ChangeFormat, Checkpoint, ConnectSource, ExactlyOnceChanges, Job, JobSpec,
};

/// Plays `script`: `key=value` entries separated by `;`, where a value
/// `~` is a tombstone and a key `!` a null key. One partition; the offset
/// is the entry's index, so a restored task continues after it.
#[derive(Default)]
struct Script {
    props: Properties,
}

impl SourceConnector for Script {
    fn version(&self) -> String {
        "1".into()
    }
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new().define(ConfigKey::new(
            "script",
            ConfigType::String,
            Importance::High,
            "The records to play.",
        ))
    }
    fn start(&mut self, props: &Properties) -> Result<(), ConnectError> {
        self.props = props.clone();
        Ok(())
    }
    fn task_configs(&self, _max_tasks: usize) -> Result<Vec<TaskConfig>, ConnectError> {
        Ok(vec![self.props.clone()])
    }
    fn create_task(&self) -> Box<dyn SourceTask> {
        Box::new(ScriptTask::default())
    }
}

#[derive(Default)]
struct ScriptTask {
    entries: Vec<(Option<String>, Option<String>)>,
    next: usize,
    context: Option<SourceTaskContext>,
}

fn partition() -> SourcePartition {
    SourcePartition::single("script", "main")
}

impl SourceTask for ScriptTask {
    fn start(&mut self, context: SourceTaskContext) -> Result<(), ConnectError> {
        let script = context.configs().get("script").cloned().unwrap_or_default();
        self.entries = script
            .split(';')
            .filter(|e| !e.is_empty())
            .map(|e| {
                let (k, v) = e.split_once('=').unwrap_or((e, "~"));
                (
                    (k != "!").then(|| k.to_owned()),
                    (v != "~").then(|| v.to_owned()),
                )
            })
            .collect();
        self.next = context
            .offset_storage_reader()
            .offset(&partition())
            .and_then(|o| o.get_i64("i"))
            .map_or(0, |i| i as usize + 1);
        self.context = Some(context);
        Ok(())
    }

    fn poll(&mut self) -> Result<Option<Vec<SourceRecord>>, ConnectError> {
        let Some(ctx) = &self.context else {
            return Err(ConnectError::fatal("poll before start"));
        };
        let Some((key, value)) = self.entries.get(self.next) else {
            ctx.stop_token().sleep(Duration::from_millis(50));
            return Ok(None);
        };
        // One record per poll, a little apart: the script spans epochs.
        std::thread::sleep(Duration::from_millis(15));
        let mut r = SourceRecord::new(
            partition(),
            SourceOffset::int(&SourceOffset::key("i"), self.next as i64),
            Arc::from("script"),
            value.as_ref().map(|_| Schema::string()),
            value.clone().map_or(Value::Null, Value::String),
        );
        r.key_schema = key.as_ref().map(|_| Schema::string());
        r.key = key.clone().map_or(Value::Null, Value::String);
        self.next += 1;
        Ok(Some(vec![r]))
    }
}

type Contents = BTreeMap<(String, String), isize>;

/// Runs the script on `workers` workers until idle; returns what the
/// collection accumulated in this run, its updates at the run's first
/// epoch, and the job's outcome.
fn run(
    workers: usize,
    snapshots: &Path,
    out: &Path,
    script: &str,
) -> (Contents, Contents, Result<(), String>) {
    let mut registry = PluginSet::builtin();
    registry.register("Script", &[], "Plays a script of keyed records.", || {
        Box::new(Script::default())
    });
    let mut props = Properties::new();
    for (k, v) in [
        ("name", "kv"),
        ("connector.class", "Script"),
        ("script", script),
    ] {
        props.insert(k.into(), v.into());
    }
    let spec = JobSpec::new(props)
        .registry(registry)
        .snapshot_dir(snapshots)
        .snapshot_interval(Duration::from_millis(40))
        .until_idle(Duration::from_millis(600));
    let all: Arc<Mutex<Contents>> = Arc::default();
    let first: Arc<Mutex<Contents>> = Arc::default();
    let (all2, first2, out) = (all.clone(), first.clone(), out.to_path_buf());
    let results = timely::execute(timely::Config::process(workers), move |worker| {
        let job = Job::prepare(worker, &spec).map_err(|e| e.to_string())?;
        let start = job.plan().start_epoch;
        let (all, first) = (all2.clone(), first2.clone());
        worker.dataflow::<u64, _, _>(|scope| {
            let source = scope.connect_source(&job);
            let changes = source.records.change_collection::<String, String>(
                &job,
                "kv",
                ChangeFormat::Upsert,
            );
            changes
                .collection
                .inner
                .clone()
                .inspect(move |((k, v), t, d)| {
                    let key = (k.clone(), v.clone());
                    *all.lock().unwrap().entry(key.clone()).or_default() += d;
                    if *t == start {
                        *first.lock().unwrap().entry(key).or_default() += d;
                    }
                });
            let written = changes
                .collection
                .exactly_once_changes(&job, &out, "kv_out", None);
            scope.checkpoint(&job, vec![source.parts, changes.parts, written]);
        });
        job.run(worker).map_err(|e| e.to_string())
    })
    .expect("timely")
    .join();
    let outcome = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| Err(e.to_string())))
        .find(Result::is_err)
        .unwrap_or(Ok(()));
    let clean = |m: &Arc<Mutex<Contents>>| {
        let mut m = m.lock().unwrap().clone();
        m.retain(|_, d| *d != 0);
        m
    };
    (clean(&all), clean(&first), outcome)
}

fn contents(pairs: &[(&str, &str)]) -> Contents {
    pairs
        .iter()
        .map(|(k, v)| (((*k).to_owned(), (*v).to_owned()), 1))
        .collect()
}

/// The change file replayed: (row, count) for rows counted non-zero.
fn replay(path: &Path) -> Contents {
    let mut m = Contents::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        let j: serde_json::Value = serde_json::from_str(line).expect("json line");
        let row = (
            j["row"][0].as_str().expect("key").to_owned(),
            j["row"][1].as_str().expect("value").to_owned(),
        );
        let n = m.entry(row).or_default();
        *n += j["diff"].as_i64().expect("diff") as isize;
        assert!((0..=1).contains(n), "a row counted {n}: {line}");
    }
    m.retain(|_, d| *d != 0);
    m
}

#[test]
fn upserts_replace_tombstones_delete_and_a_restore_on_other_workers_keeps_the_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (snaps, out) = (dir.path().join("snaps"), dir.path().join("changes.jsonl"));
    let first_script = "a=1;b=2;a=3;c=4;b=~;d=5;x=~";
    let (held, _, outcome) = run(2, &snaps, &out, first_script);
    assert_eq!(outcome, Ok(()));
    let after_first = contents(&[("a", "3"), ("c", "4"), ("d", "5")]);
    assert_eq!(
        held, after_first,
        "latest value per key; b deleted; x never held"
    );
    assert_eq!(replay(&out), after_first);

    // Restored onto three workers with nothing new to read: the rows come
    // back, at the run's first epoch, and nothing else happens.
    let (held, restored, outcome) = run(3, &snaps, &out, first_script);
    assert_eq!(outcome, Ok(()));
    assert_eq!(
        restored, after_first,
        "the restored rows, at the first epoch"
    );
    assert_eq!(held, after_first);
    assert_eq!(replay(&out), after_first, "nothing written twice");

    // The script goes on; a restored run on one worker applies only the
    // new entries, against the restored rows.
    let (held, _, outcome) = run(1, &snaps, &out, &format!("{first_script};a=~;c=6;e=7;d=5"));
    assert_eq!(outcome, Ok(()));
    let want = contents(&[("c", "6"), ("d", "5"), ("e", "7")]);
    assert_eq!(held, want, "rows after the restore and the new entries");
    assert_eq!(replay(&out), want, "the change file, replayed");
}

#[test]
fn a_null_key_fails_the_job_naming_the_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (snaps, out) = (dir.path().join("snaps"), dir.path().join("changes.jsonl"));
    let (_, _, outcome) = run(1, &snaps, &out, "a=1;!=2");
    let message = outcome.expect_err("a null key fails the job");
    for part in ["changes `kv`", "topic `script`", "offset", "no key"] {
        assert!(message.contains(part), "`{part}` missing in: {message}");
    }
}
