//! A job's Timely-free logic: its configuration ([`JobConfig`]: the
//! properties with config providers resolved, the plugins, the snapshot
//! settings), validation of every key at once, and the plan the leader
//! makes at start ([`Plan`]: the snapshot to restore, the first epoch, the
//! task configurations), refusing a snapshot another connector wrote.
//!
//! The Timely side (`timely-connect-operators`) prepares a job on every
//! worker from a [`JobConfig`], has worker 0 call [`JobConfig::plan`], and
//! sends the plan to every worker.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::TaskFailure;
use crate::api::{OffsetStorageReader, SourceConnector, TaskConfig};
use crate::config::common::{connector_config_def, CommonConfig, MIN_SNAPSHOT_INTERVAL};
use crate::config::{ConfigIssue, Properties, Resolved, UnknownKey};
use crate::convert::ConverterConfig;
use crate::data::{OffsetValue, Offsets};
use crate::plugins::PluginSet;
use crate::snapshot::{Snapshot, SnapshotError, SnapshotStore};
use crate::state::StateManifest;
use crate::storage::Location;
use crate::transforms::TransformChain;

/// Which snapshot a job starts from (`--restore`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestoreMode {
    /// The newest snapshot whose checksum holds; a fresh start if there is none.
    Latest,
    /// A fresh start, ignoring snapshots (new snapshots still get higher epochs).
    None,
    /// The snapshot of this epoch; an error if it is missing or corrupt.
    Epoch(u64),
}

/// Why a job could not start or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The connector's configuration has problems (all of them listed).
    #[error("connector `{connector}` has an invalid configuration:\n{}", issues.iter().map(|i| format!("  - {i}")).collect::<Vec<_>>().join("\n"))]
    Config {
        /// The connector's name (or `<unnamed>`).
        connector: String,
        /// Every problem found.
        issues: Vec<ConfigIssue>,
    },
    /// The snapshot store failed.
    #[error("snapshot store: {0}")]
    Snapshot(#[from] SnapshotError),
    /// The connector failed to start or to plan its tasks.
    #[error("connector `{connector}`: {message}")]
    Connector {
        /// The connector's name.
        connector: String,
        /// What went wrong.
        message: String,
    },
    /// A task failed; the last snapshot is untouched.
    #[error("{0}")]
    Task(#[from] TaskFailure),
    /// The snapshot to restore was written by another connector (another
    /// `name`, `connector.class`, or value of an identity key such as the
    /// file source's `file`); its offsets would be applied to other data.
    #[error(
        "refusing to restore {}: {what}. Its offsets would not mean the same here: start \
         fresh with --restore none (or another --snapshot-dir), or pass \
         --allow-foreign-snapshot to restore it anyway",
        path.display()
    )]
    ForeignSnapshot {
        /// The snapshot file.
        path: PathBuf,
        /// What differs, with the stored and the current value.
        what: String,
    },
    /// Another part of the job failed (a sink, the coordinator, another worker).
    #[error("{0}")]
    Failed(String),
}

/// What a job is configured with: the connector's properties (config
/// providers resolved), the plugins it may name, and where and how it
/// snapshots and restores.
///
/// ```
/// use timely_connect::runtime::job::JobConfig;
/// use timely_connect::{PluginSet, Properties};
///
/// let mut props = Properties::new();
/// for (k, v) in [("name", "gen"), ("connector.class", "Datagen"), ("quickstart", "users"),
///                ("tasks.max", "2"), ("partitions", "3"), ("errors.tolerence", "all")] {
///     props.insert(k.into(), v.into());
/// }
/// let config = JobConfig::new(props, PluginSet::builtin());
/// let (common, mut connector) = config.validate().unwrap();
/// assert_eq!(common.tasks_max, 2);
/// // A misspelt key does nothing; it is named with the nearest known one.
/// assert!(config.unknown_keys()[0].to_string().contains("errors.tolerance"));
/// // Without a snapshot directory the plan starts fresh at epoch 0.
/// let plan = config.plan(&common, &mut *connector, 1).unwrap();
/// assert_eq!((plan.start_epoch, plan.restored_from), (0, None));
/// assert_eq!(plan.task_configs.len(), 2);
/// ```
#[derive(Clone)]
pub struct JobConfig {
    /// The connector's properties (`name`, `connector.class`, …), with
    /// config-provider references resolved.
    pub props: Properties,
    /// Where connectors, converters and transforms are looked up.
    pub registry: PluginSet,
    /// Where snapshots go (a directory, or `s3://bucket/prefix`); `None`
    /// runs without snapshots.
    pub snapshot_dir: Option<Location>,
    /// Overrides `snapshot.interval.ms`.
    pub snapshot_interval: Option<Duration>,
    /// Which snapshot to start from.
    pub restore: RestoreMode,
    /// Restore a snapshot written by another connector name, class or
    /// identity key value (refused by default).
    pub allow_foreign_snapshot: bool,
    /// The values that came from config providers (`${env:…}`, …), to
    /// show and store unresolved.
    provided: Resolved,
    /// Problems resolving config-provider references.
    provider_issues: Vec<ConfigIssue>,
}

impl std::fmt::Debug for JobConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobConfig")
            .field("name", &self.name())
            .field("snapshot_dir", &self.snapshot_dir)
            .field("restore", &self.restore)
            .finish_non_exhaustive()
    }
}

impl JobConfig {
    /// A job for `props` (config-provider references resolved now; a
    /// failure is reported by [`JobConfig::validate`]) with `registry`'s
    /// plugins, no snapshots, restoring the latest snapshot once a
    /// directory is set.
    pub fn new(props: Properties, registry: PluginSet) -> Self {
        let (provided, provider_issues) = match crate::config::resolve_providers(&props) {
            Ok(resolved) => (resolved, Vec::new()),
            Err(issues) => (
                Resolved {
                    props: props.clone(),
                    ..Default::default()
                },
                issues,
            ),
        };
        JobConfig {
            props: provided.props.clone(),
            provided,
            provider_issues,
            registry,
            snapshot_dir: None,
            snapshot_interval: None,
            restore: RestoreMode::Latest,
            allow_foreign_snapshot: false,
        }
    }

    /// The connector's name.
    pub fn name(&self) -> &str {
        self.props
            .get("name")
            .map(String::as_str)
            .unwrap_or("<unnamed>")
    }

    /// Keys of the properties that neither the shared keys nor the
    /// connector define (converters', transforms' and predicates' keys are
    /// checked by them), each with the nearest known key. They do nothing;
    /// The `snapshot.s3.*` properties (config providers resolved): what an
    /// `s3://` snapshot location takes over the `AWS_*` environment.
    pub fn snapshot_options(&self) -> BTreeMap<String, String> {
        self.props
            .iter()
            .filter(|(k, _)| k.starts_with("snapshot.s3."))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Opens the snapshot store at [`JobConfig::snapshot_dir`] (`None`
    /// without one), keeping `retain` snapshots.
    pub fn snapshot_store(&self, retain: usize) -> Result<Option<SnapshotStore>, SnapshotError> {
        self.snapshot_dir
            .as_ref()
            .map(|location| {
                SnapshotStore::open_location(location, retain, &self.snapshot_options())
            })
            .transpose()
    }

    /// the job logs them at start as warnings and `validate` prints them.
    pub fn unknown_keys(&self) -> Vec<UnknownKey> {
        let common = connector_config_def();
        let own = self
            .props
            .get("connector.class")
            .and_then(|class| self.registry.resolve(class, &self.props).ok())
            .map(|plugin| plugin.create().config_def());
        let mut defs = vec![&common];
        defs.extend(own.as_ref());
        crate::config::unknown_keys(&self.props, &defs)
    }

    /// Validates the configuration: the shared keys, the class, and the
    /// connector's own keys — every problem at once.
    pub fn validate(&self) -> Result<(CommonConfig, Box<dyn SourceConnector>), JobError> {
        let mut issues = self.provider_issues.clone();
        let common = match connector_config_def().parse(&self.props) {
            Ok(parsed) => match CommonConfig::from_parsed(&parsed) {
                Ok(c) => Some(c),
                Err(issue) => {
                    issues.push(issue);
                    None
                }
            },
            Err(mut errs) => {
                issues.append(&mut errs);
                None
            }
        };
        if let Some(interval) = self.snapshot_interval {
            if interval < MIN_SNAPSHOT_INTERVAL {
                issues.push(ConfigIssue::new(
                    "snapshot.interval.ms",
                    format!(
                        "the snapshot interval must be at least {} ms, got {} ms (--snapshot-interval)",
                        MIN_SNAPSHOT_INTERVAL.as_millis(),
                        interval.as_millis()
                    ),
                ));
            }
        }
        if let Err(mut errs) = TransformChain::from_config(&self.props, self.registry.transforms())
        {
            issues.append(&mut errs);
        }
        if let Err(mut errs) =
            ConverterConfig::from_properties(&self.props, self.registry.converters())
        {
            issues.append(&mut errs);
        }
        let mut connector = None;
        if let Some(class) = self.props.get("connector.class") {
            match self.registry.resolve(class, &self.props) {
                Ok(plugin) => {
                    let c = plugin.create();
                    issues.extend(c.validate(&self.props));
                    connector = Some(c);
                }
                Err(message) => issues.push(ConfigIssue {
                    key: "connector.class".to_owned(),
                    message,
                }),
            }
        }
        match (common, connector) {
            (Some(common), Some(connector)) if issues.is_empty() => Ok((common, connector)),
            _ => Err(JobError::Config {
                connector: self.name().to_owned(),
                // Never a secret a provider resolved: quote its reference.
                issues: issues
                    .into_iter()
                    .map(|mut issue| {
                        issue.message = self.provided.scrub(&issue.message);
                        issue
                    })
                    .collect(),
            }),
        }
    }

    /// The properties as they may be shown or stored: values that came
    /// from config providers as their references (`${env:…}`).
    pub fn shown_props(&self) -> Properties {
        self.provided.hide(&self.props)
    }

    /// Worker 0's plan at start: restores from the snapshot store (under
    /// [`JobConfig::restore`], refusing a foreign snapshot unless allowed),
    /// finds the first epoch above every snapshot on disk, starts the
    /// connector and asks it for at most `tasks.max` task configurations.
    /// `workers` is only logged.
    pub fn plan(
        &self,
        common: &CommonConfig,
        connector: &mut dyn SourceConnector,
        workers: usize,
    ) -> Result<Plan, JobError> {
        plan_on_leader(self, common, connector, workers)
    }

    /// The properties as stored in snapshots: values from config providers
    /// as their references, and every PASSWORD-typed value (of the shared
    /// keys and of `connector`'s) hidden.
    pub fn redacted_props(&self, connector: &dyn SourceConnector) -> Properties {
        let def = connector_config_def().merge(connector.config_def());
        def.redact(&self.shown_props())
    }
}

/// What worker 0 decides at start and sends to every worker: where to
/// resume from and which tasks exist.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Plan {
    /// Task configurations, from `task_configs(tasks.max)`; task `i` runs on worker `i % workers`.
    pub task_configs: Vec<TaskConfig>,
    /// Restored source offsets.
    pub offsets: Offsets,
    /// Restored sink positions.
    pub sinks: Vec<(String, OffsetValue)>,
    /// The snapshot restored from, if any.
    pub restored_from: Option<u64>,
    /// The first epoch of this run (above every snapshot on disk).
    pub start_epoch: u64,
    /// This run's execution number (one more than the restored snapshot's).
    pub execution: u64,
    /// Restored operator state, by operator name: the segment files each
    /// operator loads its share of keys from (see [`crate::state`]).
    pub state: BTreeMap<String, StateManifest>,
}

impl Plan {
    /// The restored offsets, for the tasks' `OffsetStorageReader`s.
    pub fn offsets_reader(&self) -> OffsetStorageReader {
        OffsetStorageReader::new(self.offsets.clone())
    }

    /// The restored sink positions by name.
    pub fn sinks_map(&self) -> BTreeMap<String, OffsetValue> {
        self.sinks.iter().cloned().collect()
    }
}

fn plan_on_leader(
    spec: &JobConfig,
    common: &CommonConfig,
    connector: &mut dyn SourceConnector,
    workers: usize,
) -> Result<Plan, JobError> {
    let name = common.name.clone();
    let mut plan = Plan {
        execution: 1,
        ..Plan::default()
    };
    if let Some(dir) = &spec.snapshot_dir {
        let store =
            SnapshotStore::open_location(dir, common.snapshot_retain, &spec.snapshot_options())?;
        let restored = match spec.restore {
            RestoreMode::None => None,
            RestoreMode::Latest => store.load_latest()?.map(|r| {
                for (path, reason) in &r.skipped {
                    warn!(file = %path.display(), %reason, used = %r.path.display(), "skipping unreadable snapshot; using an older one");
                }
                (r.snapshot, r.path)
            }),
            RestoreMode::Epoch(e) => Some((store.load_epoch(e)?, store.path_for(e))),
        };
        let max_on_disk = store.max_epoch_on_disk()?;
        if let Some((snap, path)) = restored {
            if let Some(foreign) = foreign_snapshot(spec, common, connector, &snap) {
                if !spec.allow_foreign_snapshot {
                    return Err(JobError::ForeignSnapshot {
                        path,
                        what: foreign,
                    });
                }
                warn!(file = %path.display(), %foreign, "restoring a foreign snapshot, as allowed");
            }
            info!(
                epoch = snap.epoch,
                execution = snap.execution,
                workers = snap.workers,
                now_workers = workers,
                "restoring from snapshot"
            );
            plan.restored_from = Some(snap.epoch);
            plan.execution = snap.execution.saturating_add(1);
            plan.offsets = snap.offsets;
            plan.sinks = snap.sinks.into_iter().collect();
            plan.state = snap.state;
        }
        plan.start_epoch = max_on_disk.map_or(0, |e| e + 1);
    }
    connector
        .start(&spec.props)
        .map_err(|e| JobError::Connector {
            connector: name.clone(),
            message: spec.provided.scrub(&format!("start failed: {e}")),
        })?;
    plan.task_configs =
        connector
            .task_configs(common.tasks_max)
            .map_err(|e| JobError::Connector {
                connector: name.clone(),
                message: spec.provided.scrub(&format!("task_configs failed: {e}")),
            })?;
    if plan.task_configs.len() > common.tasks_max {
        return Err(JobError::Connector {
            connector: name,
            message: format!(
                "returned {} task configs for tasks.max={}",
                plan.task_configs.len(),
                common.tasks_max
            ),
        });
    }
    info!(
        tasks = plan.task_configs.len(),
        workers,
        start_epoch = plan.start_epoch,
        "job planned"
    );
    Ok(plan)
}

/// What makes `snap` another connector's snapshot, if anything: its
/// `name`, its `connector.class` (aliases resolved), or one of the
/// connector's identity keys. Values absent from an older snapshot's
/// stored configuration are not compared.
fn foreign_snapshot(
    spec: &JobConfig,
    common: &CommonConfig,
    connector: &dyn SourceConnector,
    snap: &Snapshot,
) -> Option<String> {
    if snap.connector != common.name {
        return Some(format!(
            "it was written by connector `{}`, this job is `{}`",
            snap.connector, common.name
        ));
    }
    let canonical = |class: &str| {
        spec.registry
            .find(class)
            .map_or_else(|| class.to_owned(), |p| p.class.clone())
    };
    if let Some(stored) = snap.config.get("connector.class") {
        if canonical(stored) != canonical(&common.connector_class) {
            return Some(format!(
                "it was written by connector.class `{stored}`, this job runs `{}`",
                common.connector_class
            ));
        }
    }
    connector.identity_keys().iter().find_map(|key| {
        let stored = snap.config.get(*key)?;
        // As stored: a value from a config provider as its reference.
        let shown = spec.shown_props();
        let current = shown.get(*key).cloned().unwrap_or_default();
        (*stored != current).then(|| {
            format!("it was written with {key}=`{stored}`, this job has {key}=`{current}`")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{SourceOffset, SourcePartition};

    fn props(pairs: &[(&str, &str)]) -> Properties {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn file_job(dir: &std::path::Path, name: &str, file: &str) -> JobConfig {
        let mut c = JobConfig::new(
            props(&[
                ("name", name),
                ("connector.class", "FileStreamSource"),
                ("file", file),
                ("topic", "t"),
            ]),
            PluginSet::builtin(),
        );
        c.snapshot_dir = Some(dir.into());
        c
    }

    fn write_snapshot(dir: &std::path::Path, epoch: u64, config: &JobConfig, position: i64) {
        let store = SnapshotStore::open(dir, 5).unwrap();
        let mut offsets = Offsets::new();
        offsets.insert(
            SourcePartition::single("filename", "in.txt"),
            SourceOffset::int(&SourceOffset::key("position"), position),
        );
        store
            .write(&Snapshot {
                epoch,
                execution: 3,
                workers: 2,
                connector: config.name().to_owned(),
                config: config.props.clone(),
                offsets,
                state: [(
                    "rows".to_owned(),
                    StateManifest {
                        segments: vec![crate::state::SegmentRef {
                            file: format!("seg-{epoch:020}-x3-w0.tcst"),
                            epoch,
                            entries: 1,
                            bytes: 50,
                            crc: 1,
                            base: false,
                        }],
                    },
                )]
                .into_iter()
                .collect(),
                ..Snapshot::default()
            })
            .unwrap();
    }

    #[test]
    fn validation_lists_every_problem_at_once() {
        let mut c = JobConfig::new(
            props(&[
                ("name", "bad"),
                ("connector.class", "Datagen"),
                ("quickstart", "nope"),
                ("tasks.max", "0"),
                ("transforms", "x"),
                ("value.converter", "NoSuchConverter"),
            ]),
            PluginSet::builtin(),
        );
        c.snapshot_interval = Some(Duration::from_millis(1));
        let err = c.validate().err().expect("invalid");
        let JobError::Config { connector, issues } = &err else {
            panic!("not a config error: {err}");
        };
        assert_eq!(connector, "bad");
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        for key in [
            "quickstart",
            "tasks.max",
            "transforms.x.type",
            "value.converter",
            "snapshot.interval.ms",
        ] {
            assert!(keys.contains(&key), "{key} missing from {keys:?}");
        }
        let unknown = JobConfig::new(
            props(&[("name", "u"), ("connector.class", "NoSuchThing")]),
            PluginSet::builtin(),
        );
        let err = unknown.validate().err().expect("unknown class").to_string();
        assert!(
            err.contains("unknown connector class `NoSuchThing`"),
            "{err}"
        );
    }

    #[test]
    fn the_plan_restores_the_newest_snapshot_and_starts_above_every_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let c = file_job(dir.path(), "files", "in.txt");
        write_snapshot(dir.path(), 4, &c, 40);
        write_snapshot(dir.path(), 7, &c, 70);
        let (common, mut connector) = c.validate().unwrap();
        let plan = c.plan(&common, &mut *connector, 3).unwrap();
        assert_eq!(plan.restored_from, Some(7));
        assert_eq!(plan.start_epoch, 8);
        assert_eq!(plan.execution, 4, "one more than the restored snapshot's");
        let reader = plan.offsets_reader();
        let restored = reader.offset(&SourcePartition::single("filename", "in.txt"));
        assert_eq!(restored.and_then(|o| o.get_i64("position")), Some(70));
        assert_eq!(plan.task_configs.len(), 1, "FileStreamSource has one task");
        assert_eq!(plan.state["rows"].segments[0].epoch, 7, "state restored");
        // The plan travels to the other workers in bincode, state and all.
        let sent: Plan = bincode::deserialize(&bincode::serialize(&plan).unwrap()).unwrap();
        assert_eq!(sent.state, plan.state);

        // An older epoch on request; a fresh start with none (epochs go on).
        let mut at = c.clone();
        at.restore = RestoreMode::Epoch(4);
        let plan = at.plan(&common, &mut *connector, 1).unwrap();
        assert_eq!((plan.restored_from, plan.start_epoch), (Some(4), 8));
        at.restore = RestoreMode::None;
        let plan = at.plan(&common, &mut *connector, 1).unwrap();
        assert_eq!((plan.restored_from, plan.start_epoch), (None, 8));
        assert!(plan.offsets.is_empty());
        at.restore = RestoreMode::Epoch(5);
        assert!(matches!(
            at.plan(&common, &mut *connector, 1),
            Err(JobError::Snapshot(_))
        ));
    }

    #[test]
    fn a_snapshot_of_another_connector_is_refused_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let writer = file_job(dir.path(), "files", "in.txt");
        write_snapshot(dir.path(), 2, &writer, 20);
        for (other, what) in [
            (
                file_job(dir.path(), "renamed", "in.txt"),
                "connector `files`",
            ),
            (file_job(dir.path(), "files", "other.txt"), "file=`in.txt`"),
        ] {
            let (common, mut connector) = other.validate().unwrap();
            match other.plan(&common, &mut *connector, 1) {
                Err(JobError::ForeignSnapshot { what: w, .. }) => {
                    assert!(w.contains(what), "{w}")
                }
                r => panic!(
                    "expected a foreign snapshot, got {:?}",
                    r.map(|p| p.restored_from)
                ),
            }
            let mut allowed = other.clone();
            allowed.allow_foreign_snapshot = true;
            let plan = allowed.plan(&common, &mut *connector, 1).unwrap();
            assert_eq!(plan.restored_from, Some(2));
        }
        // The Kafka class name of the same connector is not foreign.
        let mut aliased = file_job(dir.path(), "files", "in.txt");
        aliased.props.insert(
            "connector.class".into(),
            "org.apache.kafka.connect.file.FileStreamSourceConnector".into(),
        );
        let (common, mut connector) = aliased.validate().unwrap();
        assert!(aliased.plan(&common, &mut *connector, 1).is_ok());
    }

    #[test]
    fn more_task_configs_than_tasks_max_is_a_connector_error() {
        /// Ignores `tasks.max` and always asks for three tasks.
        struct Greedy;
        impl SourceConnector for Greedy {
            fn version(&self) -> String {
                "1".into()
            }
            fn config_def(&self) -> crate::config::ConfigDef {
                crate::config::ConfigDef::new()
            }
            fn start(&mut self, _: &Properties) -> Result<(), crate::api::ConnectError> {
                Ok(())
            }
            fn task_configs(&self, _: usize) -> Result<Vec<TaskConfig>, crate::api::ConnectError> {
                Ok(vec![TaskConfig::new(); 3])
            }
            fn create_task(&self) -> Box<dyn crate::api::SourceTask> {
                unreachable!("not run here")
            }
        }
        let mut plugins = PluginSet::builtin();
        plugins.register("Greedy", &[], "test", || Box::new(Greedy));
        let c = JobConfig::new(
            props(&[
                ("name", "g"),
                ("connector.class", "Greedy"),
                ("tasks.max", "2"),
            ]),
            plugins,
        );
        let (common, mut connector) = c.validate().unwrap();
        let err = c
            .plan(&common, &mut *connector, 1)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("connector `g`") && err.contains("3 task configs for tasks.max=2"),
            "{err}"
        );
    }
}
