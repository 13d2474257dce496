use std::collections::BTreeMap;

use super::*;
use crate::api::OffsetStorageReader;
use crate::data::Offsets;

fn props(dir: &Path, extra: &[(&str, &str)]) -> Properties {
    let mut p = Properties::new();
    p.insert("name".into(), "spool".into());
    p.insert("topic".into(), "lines".into());
    p.insert(
        INPUT_PATH_CONFIG.into(),
        dir.join("in").display().to_string(),
    );
    p.insert(
        FINISHED_PATH_CONFIG.into(),
        dir.join("done").display().to_string(),
    );
    p.insert(INPUT_FILE_PATTERN_CONFIG.into(), r".*\.csv".into());
    for (k, v) in extra {
        p.insert((*k).into(), (*v).into());
    }
    p
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    dir
}

fn task(config: &TaskConfig, offsets: Offsets) -> SpoolDirTask {
    let mut t = SpoolDirTask::default();
    let context = SourceTaskContext::new(
        "spool",
        0,
        config.clone(),
        OffsetStorageReader::new(offsets),
        crate::api::StopToken::new(),
    );
    t.start(context).unwrap();
    t
}

/// Polls until nothing is left; returns (value, offset) pairs.
fn drain(t: &mut SpoolDirTask) -> Vec<(String, SourceOffset)> {
    let mut out = Vec::new();
    while let Some(batch) = t.poll().unwrap() {
        for r in batch {
            out.push((
                r.value.as_str().unwrap_or_default().to_owned(),
                r.source_offset,
            ));
        }
    }
    out
}

#[test]
fn files_are_read_in_order_and_the_last_line_says_finished() {
    let dir = setup();
    std::fs::write(dir.path().join("in/a.csv"), "1\n2\r\n3").unwrap();
    std::fs::write(dir.path().join("in/b.csv"), "4\n").unwrap();
    std::fs::write(dir.path().join("in/skip.txt"), "x\n").unwrap();
    std::fs::write(dir.path().join("in/.c.csv"), "being written\n").unwrap();
    let mut c = SpoolDirSource::default();
    c.start(&props(
        dir.path(),
        &[("batch.size", "2"), ("empty.poll.wait.ms", "1")],
    ))
    .unwrap();
    let configs = c.task_configs(1).unwrap();
    assert_eq!(configs.len(), 1);
    let mut t = task(&configs[0], Offsets::new());
    let got = drain(&mut t);
    let values: Vec<&str> = got.iter().map(|(v, _)| v.as_str()).collect();
    assert_eq!(values, ["1", "2", "3", "4"]);
    let finished: Vec<bool> = got
        .iter()
        .map(|(_, o)| matches!(o.get(FINISHED_FIELD), Some(OffsetValue::Bool(true))))
        .collect();
    assert_eq!(finished, [false, false, true, true]);
    assert_eq!(got[2].1.get_i64(POSITION_FIELD), Some(6));
    assert_eq!(got[2].1.get_i64(OFFSET_FIELD), Some(3));
    // Nothing is moved before a durable snapshot says the file is finished.
    assert!(dir.path().join("in/a.csv").exists());
}

#[test]
fn a_task_resumes_from_its_offset_and_moves_finished_files_only_after_commit() {
    let dir = setup();
    std::fs::write(dir.path().join("in/a.csv"), "1\n2\n3\n").unwrap();
    let mut c = SpoolDirSource::default();
    c.start(&props(dir.path(), &[("empty.poll.wait.ms", "1")]))
        .unwrap();
    let config = c.task_configs(2).unwrap().remove(0);
    let mut offsets = Offsets::new();
    let partition = SourcePartition::single(FILE_NAME_FIELD, "a.csv");
    offsets.insert(partition.clone(), offset(1, 2, false));
    let mut t = task(&config, offsets);
    let got = drain(&mut t);
    assert_eq!(
        got.iter().map(|(v, _)| v.as_str()).collect::<Vec<_>>(),
        ["2", "3"]
    );
    // A commit covering only part of the file moves nothing.
    let context = t.context.clone().unwrap();
    let mut partial = Offsets::new();
    partial.insert(partition.clone(), offset(2, 4, false));
    context.set_committed(&partial);
    t.commit().unwrap();
    assert!(dir.path().join("in/a.csv").exists());
    // The durable snapshot says finished: the file moves.
    let mut all = Offsets::new();
    all.insert(partition, got[1].1.clone());
    context.set_committed(&all);
    t.commit().unwrap();
    assert!(!dir.path().join("in/a.csv").exists());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("done/a.csv")).unwrap(),
        "1\n2\n3\n"
    );
}

#[test]
fn a_restored_finished_file_is_not_read_again_and_is_cleaned_up() {
    let dir = setup();
    std::fs::write(dir.path().join("in/a.csv"), "1\n").unwrap();
    let mut c = SpoolDirSource::default();
    c.start(&props(
        dir.path(),
        &[("cleanup.policy", "DELETE"), ("empty.poll.wait.ms", "1")],
    ))
    .unwrap();
    let config = c.task_configs(1).unwrap().remove(0);
    let mut offsets = Offsets::new();
    offsets.insert(
        SourcePartition::single(FILE_NAME_FIELD, "a.csv"),
        offset(1, 2, true),
    );
    let mut t = task(&config, offsets);
    assert!(drain(&mut t).is_empty());
    assert!(!dir.path().join("in/a.csv").exists(), "deleted");
}

#[test]
fn new_files_ask_for_reconfiguration_and_are_spread_over_tasks() {
    let dir = setup();
    let mut c = SpoolDirSource::default();
    c.start(&props(dir.path(), &[])).unwrap();
    assert_eq!(
        c.task_configs(3).unwrap().len(),
        1,
        "one idle task without files"
    );
    assert!(!c.context_requests().reconfigure);
    for i in 0..5 {
        std::fs::write(dir.path().join(format!("in/f{i}.csv")), "x\n").unwrap();
    }
    assert!(c.context_requests().reconfigure);
    let configs = c.task_configs(3).unwrap();
    let files: Vec<Vec<String>> = configs
        .iter()
        .map(|c| serde_json::from_str(&c[TASK_FILES]).unwrap())
        .collect();
    assert_eq!(
        files,
        [
            vec!["f0.csv", "f3.csv"],
            vec!["f1.csv", "f4.csv"],
            vec!["f2.csv"]
        ]
    );
    assert!(!c.context_requests().reconfigure);
    // A file that goes away (moved when finished) asks for nothing.
    std::fs::remove_file(dir.path().join("in/f0.csv")).unwrap();
    assert!(!c.context_requests().reconfigure);
}

#[test]
fn bad_configurations_name_their_keys() {
    let dir = setup();
    let mut p = props(dir.path(), &[("input.file.pattern", "(")]);
    p.remove(FINISHED_PATH_CONFIG);
    let issues = SpoolDirSource::default().validate(&p);
    let keys: BTreeMap<&str, &str> = issues
        .iter()
        .map(|i| (i.key.as_str(), i.message.as_str()))
        .collect();
    assert!(keys.contains_key(FINISHED_PATH_CONFIG), "{issues:?}");
    assert!(keys.contains_key(INPUT_FILE_PATTERN_CONFIG), "{issues:?}");
    let missing = props(dir.path(), &[("input.path", "/nonexistent/spool")]);
    let err = SpoolDirSource::default()
        .start(&missing)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("/nonexistent/spool") && err.contains("input.path"),
        "{err}"
    );
}

#[test]
fn an_unreadable_file_fails_the_task_or_is_moved_aside() {
    let dir = setup();
    std::fs::write(dir.path().join("in/a.csv"), "1\n").unwrap();
    let mut c = SpoolDirSource::default();
    c.start(&props(dir.path(), &[("empty.poll.wait.ms", "1")]))
        .unwrap();
    let config = c.task_configs(1).unwrap().remove(0);
    // Restored beyond its end: replaced since the snapshot.
    let mut offsets = Offsets::new();
    offsets.insert(
        SourcePartition::single(FILE_NAME_FIELD, "a.csv"),
        offset(5, 99, false),
    );
    let mut t = task(&config, offsets.clone());
    let err = t.poll().unwrap_err().to_string();
    assert!(
        err.contains("a.csv") && err.contains("beyond its end"),
        "{err}"
    );

    let mut c = SpoolDirSource::default();
    let errors = dir.path().join("errors");
    c.start(&props(
        dir.path(),
        &[
            ("halt.on.error", "false"),
            ("error.path", errors.to_str().unwrap()),
            ("empty.poll.wait.ms", "1"),
        ],
    ))
    .unwrap();
    let config = c.task_configs(1).unwrap().remove(0);
    let mut t = task(&config, offsets);
    assert!(drain(&mut t).is_empty());
    assert!(errors.join("a.csv").exists());
}
