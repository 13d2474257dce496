//! The `timely-connect` command line: run, validate, plugins, snapshots.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

use timely_connect::config::load_properties;
use timely_connect::data::json::write_text;
use timely_connect::duration::parse_duration;
use timely_connect::plugins::PluginSet;
use timely_connect::runtime::{write_dead_letter_json, EncodedRecord};
use timely_connect::snapshot::{offsets_to_api_json, SnapshotStore};
use timely_connect::storage::Location;
use timely_connect_operators::{
    render_blocks, Checkpoint, ConnectSource, ExactlyOnceBytesSink, Job, JobError, JobSpec,
    RestoreMode,
};

/// Records are allocated on task threads and freed on worker threads;
/// mimalloc handles that cross-thread pattern far better than glibc's
/// allocator (see BENCHMARKS.md).
/// Whether `--log-format json` is in force (set once in `main`).
static JSON_LOGS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Tells the user something on stderr: a plain line, or under
/// `--log-format json` a JSON log event (so every stderr line parses).
macro_rules! say {
    (error, $($arg:tt)*) => { say!(@ ::tracing::Level::ERROR, $($arg)*) };
    (warn, $($arg:tt)*) => { say!(@ ::tracing::Level::WARN, $($arg)*) };
    (info, $($arg:tt)*) => { say!(@ ::tracing::Level::INFO, $($arg)*) };
    (@ $level:expr, $($arg:tt)*) => {{
        let message = format!($($arg)*);
        if JSON_LOGS.get().copied().unwrap_or(false) {
            match $level {
                ::tracing::Level::ERROR => ::tracing::error!(target: "timely_connect::cli", "{message}"),
                ::tracing::Level::WARN => ::tracing::warn!(target: "timely_connect::cli", "{message}"),
                _ => ::tracing::info!(target: "timely_connect::cli", "{message}"),
            }
        } else {
            eprintln!("{message}");
        }
    }};
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "timely-connect",
    version,
    about = "Kafka Connect source connectors inside Timely Dataflow",
    after_help = "Exit codes: 0 done (a graceful stop on SIGINT or SIGTERM included), \
                  1 runtime failure, 2 bad configuration or command line, \
                  130 a second signal aborted the stop (the last snapshot stands)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How logs and messages on stderr look: `text`, or `json` (one JSON
    /// object per line, for log shippers).
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a connector as a Timely job.
    #[command(disable_help_flag = true)]
    Run(Box<RunArgs>),
    /// Checks a connector's properties; prints every problem at once.
    Validate {
        /// The connector's .properties file.
        config: PathBuf,
        /// Kafka's plugin.path for Java connectors (overrides the file's
        /// `plugin.path`).
        #[arg(long, value_delimiter = ',')]
        plugin_path: Vec<PathBuf>,
    },
    /// Lists the connectors and their configuration keys, and the Java
    /// connectors found on the plugin path.
    Plugins {
        /// Print the reference as Markdown (built-in connectors, then the
        /// Java connectors on the plugin path).
        #[arg(long)]
        markdown: bool,
        /// Kafka's plugin.path: directories whose children are plugins
        /// (default: the plugins/ that scripts/install-java-plugins.sh made).
        #[arg(long, value_delimiter = ',')]
        plugin_path: Vec<PathBuf>,
    },
    /// Lists or shows snapshots.
    Snapshots {
        #[command(subcommand)]
        action: SnapshotAction,
    },
    /// Prints a running job's status and metrics (from its --metrics-addr).
    Status {
        /// The job's metrics address, e.g. 127.0.0.1:9464.
        #[arg(long)]
        metrics_addr: String,
    },
    /// Exports, alters or resets a stopped job's source offsets (Kafka's
    /// KIP-875 JSON); a change is a new snapshot generation.
    Offsets {
        #[command(subcommand)]
        action: OffsetsAction,
    },
}

#[derive(Subcommand)]
enum OffsetsAction {
    /// Prints the newest valid snapshot's source offsets as KIP-875 JSON
    /// (`{"offsets":[{"partition":{...},"offset":{...}}]}`).
    Export {
        /// The connector's .properties file (its snapshot directory is
        /// found as `run` finds it).
        config: Option<PathBuf>,
        /// Snapshot directory.
        #[arg(long)]
        snapshot_dir: Option<PathBuf>,
        /// Export this epoch instead of the newest.
        #[arg(long)]
        epoch: Option<u64>,
    },
    /// Sets the offsets of the partitions in a KIP-875 JSON file (`-`:
    /// standard input; a `null` offset removes the partition's offset),
    /// keeping the others. Refused while the job runs.
    Alter {
        /// The connector's .properties file.
        config: Option<PathBuf>,
        /// Snapshot directory.
        #[arg(long)]
        snapshot_dir: Option<PathBuf>,
        /// The KIP-875 JSON document.
        #[arg(long)]
        offsets: PathBuf,
    },
    /// Removes every source offset, so the connector starts from scratch.
    /// Refused while the job runs.
    Reset {
        /// The connector's .properties file.
        config: Option<PathBuf>,
        /// Snapshot directory.
        #[arg(long)]
        snapshot_dir: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// The connector's .properties file.
    config: PathBuf,
    /// Worker threads per process.
    #[arg(short = 'w', long = "workers", default_value_t = 1)]
    workers: usize,
    /// Number of processes.
    #[arg(short = 'n', long = "processes", default_value_t = 1)]
    processes: usize,
    /// This process's index.
    #[arg(short = 'p', long = "process", default_value_t = 0)]
    process: usize,
    /// File with one host:port per process (default: localhost:2101, 2102, …).
    #[arg(short = 'h', long = "hostfile")]
    hostfile: Option<PathBuf>,
    /// Snapshot directory (default: ./snapshots/NAME).
    #[arg(long)]
    snapshot_dir: Option<PathBuf>,
    /// Snapshot interval, e.g. 200ms, 2s (default: snapshot.interval.ms).
    #[arg(long)]
    snapshot_interval: Option<String>,
    /// latest, none, or an epoch number.
    #[arg(long, default_value = "latest")]
    restore: String,
    /// Restore a snapshot even if another connector wrote it (another
    /// `name`, `connector.class`, or `file` for the file source); refused
    /// by default.
    #[arg(long)]
    allow_foreign_snapshot: bool,
    /// Write records exactly once to this file (otherwise to stdout, at least once).
    #[arg(long)]
    output: Option<PathBuf>,
    /// With value.converter set: also write each record's key (through
    /// key.converter), before the value: `key<TAB>value` lines, or a second
    /// length-prefixed field.
    #[arg(long)]
    output_key: bool,
    /// How --output separates records when value.converter is set: `lines`
    /// (bytes and a newline; for text converters) or `length-prefixed` (a
    /// 4-byte big-endian length before each field, -1 for null; for Avro and
    /// other binary converters).
    #[arg(long, default_value = "lines", value_parser = ["lines", "length-prefixed"])]
    output_framing: String,
    /// Write dead letters (records that failed a transform or a conversion
    /// under errors.tolerance=all), one JSON object per line with their
    /// __connect.errors.* headers, exactly once to this file.
    #[arg(long)]
    dead_letter_output: Option<PathBuf>,
    /// Stop cleanly, with a final snapshot, once no record arrived for this
    /// long after every task found nothing to read.
    #[arg(long)]
    until_idle: Option<String>,
    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9464) at
    /// /metrics; off by default.
    #[arg(long)]
    metrics_addr: Option<std::net::SocketAddr>,
    /// Kafka's plugin.path for Java connectors: directories whose
    /// children are plugins (overrides the file's `plugin.path`).
    #[arg(long, value_delimiter = ',')]
    plugin_path: Vec<PathBuf>,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
}

#[derive(Subcommand)]
enum SnapshotAction {
    /// Lists the snapshots, newest first.
    List {
        /// The connector's .properties file: its directory is found as
        /// `run` finds it (snapshots/NAME unless --snapshot-dir is given).
        config: Option<PathBuf>,
        /// Snapshot directory.
        #[arg(long)]
        snapshot_dir: Option<PathBuf>,
    },
    /// Shows a snapshot's offsets in Kafka Connect's offsets-API JSON shape.
    Show {
        /// The connector's .properties file (see `list`).
        config: Option<PathBuf>,
        /// The epoch (default: the newest valid snapshot).
        epoch: Option<u64>,
        /// Snapshot directory.
        #[arg(long)]
        snapshot_dir: Option<PathBuf>,
    },
}

/// The snapshot directory a `snapshots` command means: `--snapshot-dir`,
/// else `snapshots/<name>` of the properties file, as `run` uses.
fn snapshot_dir_of(
    config: Option<&Path>,
    snapshot_dir: Option<PathBuf>,
) -> Result<(Location, BTreeMap<String, String>), String> {
    // An s3:// location takes the file's snapshot.s3.* keys, if given.
    let spec = config.map(|c| load_spec(c, &[])).transpose()?;
    let options = spec
        .as_ref()
        .map(|s| s.config.snapshot_options())
        .unwrap_or_default();
    if let Some(dir) = snapshot_dir {
        return Ok((Location::from(dir), options));
    }
    let (Some(config), Some(spec)) = (config, spec) else {
        return Err("give the connector's .properties file or --snapshot-dir".into());
    };
    match spec.config.props.get("name") {
        Some(name) => {
            if let Err(timely_connect_operators::JobError::Config { issues, .. }) = spec.validate()
            {
                if let Some(issue) = issues.iter().find(|i| i.key == "name") {
                    return Err(format!("{}: {issue}", config.display()));
                }
            }
            Ok((
                Location::Local(PathBuf::from("snapshots").join(name)),
                options,
            ))
        }
        None => Err(format!(
            "{}: no `name`, so no default snapshot directory",
            config.display()
        )),
    }
}

fn main() -> ExitCode {
    timely_connect_operators::disable_transparent_huge_pages();
    exit_when_a_peer_is_lost();
    let cli = Cli::parse();
    let json = cli.log_format == "json";
    let _ = JSON_LOGS.set(json);
    // RUST_LOG as usual; the CLI's own messages always show.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "warn".into())
        .add_directive(
            "timely_connect::cli=info"
                .parse()
                .unwrap_or_else(|_| tracing::Level::INFO.into()),
        );
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let result = match cli.command {
        Command::Run(args) => run(*args),
        Command::Validate {
            config,
            plugin_path,
        } => validate(&config, &plugin_path),
        Command::Plugins {
            markdown,
            plugin_path,
        } => plugins(markdown, &plugin_path),
        Command::Snapshots { action } => snapshots(action),
        Command::Offsets { action } => offsets(action),
        Command::Status { metrics_addr } => status(&metrics_addr),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            say!(error, "error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Timely's network threads panic when another process of the job goes
/// away (killed, or failed). The workers would then wait forever, so the
/// process stops at once with an error instead; its last snapshot is intact
/// and a restart with `--restore latest` resumes from it.
fn exit_when_a_peer_is_lost() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("timely communication error") {
            say!(error, "error: lost the connection to another process of the job ({message}); stopping. Restart every process with --restore latest.");
            std::process::exit(1);
        }
        default_hook(info);
    }));
}

fn load_spec(config: &Path, plugin_path: &[PathBuf]) -> Result<JobSpec, String> {
    let mut props = load_properties(config).map_err(|e| e.to_string())?;
    if !plugin_path.is_empty() {
        let joined = plugin_path
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(",");
        props.insert("plugin.path".to_owned(), joined);
    }
    Ok(JobSpec::new(props))
}

fn validate(config: &Path, plugin_path: &[PathBuf]) -> Result<ExitCode, String> {
    let spec = match load_spec(config, plugin_path) {
        Ok(spec) => spec,
        Err(e) => {
            say!(error, "{e}");
            return Ok(ExitCode::from(2));
        }
    };
    let unknown = spec.unknown_keys();
    for key in &unknown {
        say!(warn, "{}: warning: {key}", config.display());
    }
    match spec.validate() {
        Ok(_) => {
            match unknown.len() {
                0 => println!("{}: valid", config.display()),
                n => println!("{}: valid, with {n} warning(s)", config.display()),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            say!(error, "{}: {e}", config.display());
            Ok(ExitCode::from(2))
        }
    }
}

fn plugins(markdown: bool, plugin_path: &[PathBuf]) -> Result<ExitCode, String> {
    let registry = PluginSet::builtin();
    let out = if markdown {
        registry.reference_markdown() + &java_reference(plugin_path)
    } else {
        registry.listing() + &java_plugins(plugin_path)
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// The Java connectors on the plugin path, one line each: class, version()
/// and plugin.
#[cfg(feature = "jvm")]
fn java_plugins(plugin_path: &[PathBuf]) -> String {
    use timely_connect_jvm as jvm;
    let dir = jvm::default_java_dir();
    let plugin_path = if plugin_path.is_empty() {
        vec![dir.join("plugins")]
    } else {
        plugin_path.to_vec()
    };
    let shown = plugin_path
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(",");
    let mut out = format!("java connectors (plugin.path {shown}):\n");
    let settings = jvm::JavaSettings::from_props(&Default::default());
    let bridge = match settings.bridge() {
        Ok(bridge) => bridge,
        Err(e) => {
            out.push_str(&format!("  none: {e}\n"));
            return out;
        }
    };
    let (found, failures) = jvm::list_connectors(bridge, &jvm::plugin_locations(&plugin_path));
    for c in &found {
        out.push_str(&format!(
            "  {}  {}  {}\n",
            c.class,
            c.version,
            c.plugin.display()
        ));
    }
    for (plugin, e) in failures {
        out.push_str(&format!("  failed to load {}: {e}\n", plugin.display()));
    }
    if found.is_empty() {
        out.push_str("  none\n");
    }
    out
}

/// The generated reference of the Java source connectors on the plugin
/// path: each one's version, plugin and the keys of its own `ConfigDef`.
#[cfg(feature = "jvm")]
fn java_reference(plugin_path: &[PathBuf]) -> String {
    use timely_connect_jvm as jvm;
    let mut props = timely_connect::Properties::new();
    if !plugin_path.is_empty() {
        let joined: Vec<String> = plugin_path
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        props.insert("plugin.path".to_owned(), joined.join(","));
    }
    props.insert("connector.runtime".to_owned(), "jvm".to_owned());
    let settings = jvm::JavaSettings::from_props(&props);
    let mut out = String::from(
        "\n# Java connectors\n\nRun through the embedded JVM (see [java-connectors.md](java-connectors.md)); found on the plugin path that `scripts/install-java-plugins.sh` fills. Their keys come from each connector's own `ConfigDef`.\n",
    );
    let bridge = match settings.bridge() {
        Ok(b) => b,
        Err(e) => {
            out.push_str(&format!("\nNot listed: {e}\n"));
            return out;
        }
    };
    let (found, _) = jvm::list_connectors(bridge, &settings.locations());
    for c in found {
        let plugin = c.plugin.file_name().map_or_else(
            || c.plugin.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        out.push_str(&format!(
            "\n## `{}`\n\nVersion {}, plugin `{plugin}`.\n\n",
            c.class, c.version
        ));
        match jvm::resolve(&c.class, &props) {
            Ok(p) => out.push_str(&p.create().config_def().to_markdown()),
            Err(e) => out.push_str(&format!("Its keys could not be read: {e}\n")),
        }
    }
    out
}

#[cfg(not(feature = "jvm"))]
fn java_reference(_plugin_path: &[PathBuf]) -> String {
    String::new()
}

#[cfg(not(feature = "jvm"))]
fn java_plugins(_plugin_path: &[PathBuf]) -> String {
    "java connectors: not available (built without the `jvm` feature)\n".to_owned()
}

fn snapshots(action: SnapshotAction) -> Result<ExitCode, String> {
    match action {
        SnapshotAction::List {
            config,
            snapshot_dir,
        } => {
            let (location, options) = snapshot_dir_of(config.as_deref(), snapshot_dir)?;
            let store = SnapshotStore::open_existing_location(&location, &options)
                .map_err(|e| e.to_string())?;
            for entry in store.list().map_err(|e| e.to_string())? {
                match &entry.problem {
                    None => println!(
                        "{:>10}  {:>10} bytes  {}",
                        entry.epoch,
                        entry.size,
                        entry.path.display()
                    ),
                    Some(reason) => println!(
                        "{:>10}  {:>10} bytes  {}  INVALID: {reason}",
                        entry.epoch,
                        entry.size,
                        entry.path.display()
                    ),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SnapshotAction::Show {
            config,
            epoch,
            snapshot_dir,
        } => {
            // `show 7 --snapshot-dir D`: the one positional is the epoch.
            let (config, epoch) = match (config, epoch, &snapshot_dir) {
                (Some(c), None, Some(_))
                    if c.to_str().is_some_and(|s| s.parse::<u64>().is_ok()) =>
                {
                    (None, c.to_str().and_then(|s| s.parse().ok()))
                }
                other => (other.0, other.1),
            };
            let (location, options) = snapshot_dir_of(config.as_deref(), snapshot_dir)?;
            let store = SnapshotStore::open_existing_location(&location, &options)
                .map_err(|e| e.to_string())?;
            let snapshot = match epoch {
                Some(e) => store.load_epoch(e).map_err(|e| e.to_string())?,
                None => {
                    store
                        .load_latest()
                        .map_err(|e| e.to_string())?
                        .ok_or_else(|| format!("no valid snapshot in {location}"))?
                        .snapshot
                }
            };
            let json = offsets_to_api_json(&snapshot.offsets);
            println!(
                "{}",
                serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?
            );
            // Standard output stays the offsets JSON (it can be imported);
            // the operators' state is summed up on standard error.
            if !snapshot.state.is_empty() {
                eprintln!("operator state in snapshot {}:", snapshot.epoch);
                for (operator, manifest) in &snapshot.state {
                    let bases = manifest.segments.iter().filter(|s| s.base).count();
                    eprintln!(
                        "  {operator}: {} segments ({bases} base), {} entries, {} bytes",
                        manifest.segments.len(),
                        manifest.entries(),
                        manifest.bytes()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `status`: a running job's metrics, for a person.
fn status(addr: &str) -> Result<ExitCode, String> {
    let text = timely_connect_operators::metrics_http::scrape(addr)?;
    // name{labels} value
    let mut samples: Vec<(String, String, f64)> = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, l.trim_end_matches('}')),
            None => (series, ""),
        };
        if let Ok(v) = value.parse::<f64>() {
            samples.push((name.to_owned(), labels.to_owned(), v));
        }
    }
    let get = |name: &str, labels: &str| {
        samples
            .iter()
            .find(|(n, l, _)| n == name && l.starts_with(labels))
            .map(|(_, _, v)| *v)
    };
    let label = |labels: &str, key: &str| {
        labels.split(',').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == key).then(|| v.trim_matches('"').to_owned())
        })
    };
    let mut tasks: Vec<(String, String, String)> = samples
        .iter()
        .filter(|(n, _, _)| n == "kafka_connect_connector_task_status")
        .filter_map(|(_, l, _)| {
            Some((
                label(l, "connector")?,
                label(l, "task")?,
                label(l, "status")?,
            ))
        })
        .collect();
    tasks.sort();
    let job = tasks.first().map(|t| t.0.clone()).unwrap_or_default();
    println!("connector {job}");
    match get("timely_connect_snapshot_last_epoch", "") {
        Some(epoch) => println!(
            "  last snapshot  epoch {epoch}, {:.1}s ago, {} bytes, written in {:.1} ms",
            get("timely_connect_snapshot_last_age_seconds", "").unwrap_or(0.0),
            get("timely_connect_snapshot_last_bytes", "").unwrap_or(0.0),
            get("timely_connect_snapshot_last_duration_seconds", "").unwrap_or(0.0) * 1e3
        ),
        None => println!("  last snapshot  none yet"),
    }
    for (connector, task, state) in &tasks {
        let l = format!("connector=\"{connector}\",task=\"{task}\"");
        println!(
            "  task {task}  {}  polled {}  written {}  {:.0} records/s  poll {:.2} ms/batch  commits {}  dead letters {}",
            state.to_uppercase(),
            get("kafka_connect_source_task_source_record_poll_total", &l).unwrap_or(0.0),
            get("kafka_connect_source_task_source_record_write_total", &l).unwrap_or(0.0),
            get("kafka_connect_source_task_source_record_poll_rate", &l).unwrap_or(0.0),
            get("kafka_connect_source_task_poll_batch_avg_time_ms", &l).unwrap_or(0.0),
            get("kafka_connect_connector_task_offset_commit_completion_total", &l).unwrap_or(0.0),
            get("timely_connect_source_task_dead_letter_total", &l).unwrap_or(0.0),
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn offsets(action: OffsetsAction) -> Result<ExitCode, String> {
    use timely_connect::snapshot::{
        change_offsets_at, offset_changes_from_api_json, OffsetChange, Owner,
    };
    let (config, snapshot_dir, change) = match action {
        OffsetsAction::Export {
            config,
            snapshot_dir,
            epoch,
        } => {
            return snapshots(SnapshotAction::Show {
                config,
                epoch,
                snapshot_dir,
            })
        }
        OffsetsAction::Reset {
            config,
            snapshot_dir,
        } => (config, snapshot_dir, OffsetChange::Reset),
        OffsetsAction::Alter {
            config,
            snapshot_dir,
            offsets,
        } => {
            let text = if offsets.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())
            } else {
                std::fs::read_to_string(&offsets)
            }
            .map_err(|e| format!("{}: {e}", offsets.display()))?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| format!("{}: not JSON: {e}", offsets.display()))?;
            let changes = offset_changes_from_api_json(&json)
                .map_err(|e| format!("{}: {e}", offsets.display()))?;
            (config, snapshot_dir, OffsetChange::Alter(changes))
        }
    };
    let (location, options) = snapshot_dir_of(config.as_deref(), snapshot_dir)?;
    let owner = match &config {
        Some(path) => {
            let spec = load_spec(path, &[])?;
            let (common, connector) = spec
                .validate()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let def = timely_connect::config::connector_config_def().merge(connector.config_def());
            Some(Owner {
                connector: common.name,
                config: def.redact(&spec.shown_props()),
            })
        }
        None => None,
    };
    let changed = change_offsets_at(&location, &options, owner.as_ref(), change)
        .map_err(|e| e.to_string())?;
    say!(
        info,
        "wrote snapshot {} ({} source offsets{}): {}",
        changed.epoch,
        changed.offsets,
        changed
            .from_epoch
            .map_or(String::new(), |e| format!(", from snapshot {e}")),
        changed.path.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn run(args: RunArgs) -> Result<ExitCode, String> {
    // A bad config or command line exits 2 before anything runs.
    let bad = |message: String| -> Result<ExitCode, String> {
        say!(error, "error: {message}");
        Ok(ExitCode::from(EXIT_USAGE))
    };
    let mut spec = match load_spec(&args.config, &args.plugin_path) {
        Ok(spec) => spec,
        Err(e) => return bad(e),
    };
    let dir = args
        .snapshot_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("snapshots").join(spec.name()));
    spec = spec
        .snapshot_dir(Location::from(&dir))
        .allow_foreign_snapshot(args.allow_foreign_snapshot);
    if let Some(i) = &args.snapshot_interval {
        match parse_duration(i) {
            Ok(d) => spec = spec.snapshot_interval(d),
            Err(e) => return bad(format!("--snapshot-interval: {e}")),
        }
    }
    if let Err(e) = spec.validate() {
        say!(error, "{}: {e}", args.config.display());
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    if let Some(i) = &args.until_idle {
        match parse_duration(i) {
            Ok(d) => spec = spec.until_idle(d),
            Err(e) => return bad(format!("--until-idle: {e}")),
        }
    }
    spec = spec.restore(match args.restore.as_str() {
        "latest" => RestoreMode::Latest,
        "none" => RestoreMode::None,
        other => match other.parse() {
            Ok(epoch) => RestoreMode::Epoch(epoch),
            Err(_) => {
                return bad(format!(
                    "--restore: expected latest, none or an epoch number, got `{other}`"
                ))
            }
        },
    });
    if args.output_key && !spec.config.props.contains_key("key.converter") {
        return bad("--output-key needs key.converter in the connector's properties".to_owned());
    }
    let mut timely_args = vec!["-w".to_owned(), args.workers.to_string()];
    if args.processes > 1 {
        timely_args.extend([
            "-n".to_owned(),
            args.processes.to_string(),
            "-p".to_owned(),
            args.process.to_string(),
        ]);
        if let Some(h) = &args.hostfile {
            timely_args.extend(["-h".to_owned(), h.display().to_string()]);
        }
    }
    let config = timely::Config::from_args(timely_args.into_iter())
        .map_err(|e| format!("timely arguments: {e}"))?;
    // `--output -` and no --output both mean standard output.
    let output = args.output.clone().filter(|p| p.as_os_str() != "-");
    let dead_letter_output = args.dead_letter_output.clone();
    if let Some(message) = output_clashes_with_input(&spec, [&output, &dead_letter_output]) {
        return bad(message);
    }
    let converted = spec.config.props.contains_key("value.converter");
    let spec = spec.encode(converted);
    let framing = Framing {
        length_prefixed: args.output_framing == "length-prefixed",
        with_key: args.output_key,
    };
    let started = Instant::now();
    let progress_spec = spec.clone();
    // Dropping `done` ends the progress thread at once (not at its next tick).
    let (done, progress_done) = std::sync::mpsc::channel::<()>();
    let progress = std::thread::spawn(move || report_progress(&progress_spec, &progress_done));

    stop_on_signals(&spec)?;
    if let Some(addr) = args.metrics_addr {
        let bound = timely_connect_operators::metrics_http::serve_metrics(addr, spec.metrics())
            .map_err(|e| format!("--metrics-addr {addr}: {e}"))?;
        say!(info, "metrics on http://{bound}/metrics");
    }
    // A connector's request for new task configurations is served inside
    // the running job (live reconfiguration).
    let results = {
        let worker_spec = spec.clone();
        let (output, dead_letter_output) = (output.clone(), dead_letter_output.clone());
        let guards = timely::execute(config.clone(), move |worker| -> Result<(), JobError> {
            let job = Job::prepare(worker, &worker_spec)?;
            worker.dataflow::<u64, _, _>(|scope| {
                let source = scope.connect_source(&job);
                let mut parts = vec![source.parts];
                let dead_letters = source.dead_letters;
                let blocks = if converted {
                    render_blocks(source.encoded, "RenderEncoded", move |r, b| {
                        write_encoded(b, r, framing)
                    })
                } else {
                    render_blocks(source.records, "RenderLines", |r, block| {
                        write_text(block, &r.value, r.value_schema.as_deref());
                        block.push(b'\n');
                    })
                };
                parts.push(match &output {
                    Some(path) => blocks.exactly_once_bytes(&job, path, "output"),
                    None => blocks.stdout_bytes(&job, "output"),
                });
                if let Some(path) = &dead_letter_output {
                    let lines = render_blocks(dead_letters, "RenderDeadLetters", |r, block| {
                        write_dead_letter_json(block, r);
                        block.push(b'\n');
                    });
                    parts.push(lines.exactly_once_bytes(&job, path, "dead-letter-output"));
                }
                scope.checkpoint(&job, parts);
            });
            job.run(worker)
        })
        .map_err(|e| format!("cannot start timely: {e}"))?;
        guards.join()
    };
    drop(done);
    let _ = progress.join();
    let mut failure = None;
    for r in results {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(e) => failure = failure.or(Some(JobError::Failed(format!("worker panicked: {e}")))),
        }
    }
    let records = spec.stats().records.load(Ordering::Relaxed);
    match failure {
        // The reader of stdout went away (`| head`): quiet, like Unix tools;
        // nothing past what it received was committed.
        Some(_) if spec.output_closed() => Ok(ExitCode::SUCCESS),
        Some(e) => {
            say!(error, "error: {e}");
            Ok(ExitCode::from(exit_code(&e)))
        }
        None => {
            let stats = spec.stats();
            let secs = started.elapsed().as_secs_f64();
            match (stats.last_snapshot(), stats.restored_from()) {
                (Some(epoch), _) => say!(info,
                    "done: {records} records from this process in {secs:.1}s; last snapshot epoch {epoch}"
                ),
                (None, Some(restored)) if records == 0 => say!(info,
                    "done: nothing new since snapshot {restored}; the output was already complete"
                ),
                (None, _) if records == 0 => {
                    say!(info, "done: the source had no records; no snapshot was needed")
                }
                (None, _) => say!(info,
                    "done: {records} records from this process in {secs:.1}s; no snapshot was written"
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// SIGINT and SIGTERM stop the job in order: the first asks every worker
/// of this process to close its last epoch, take the final snapshot,
/// commit the sinks and the tasks, and exit 0; a second one aborts at
/// once with exit code 130 (the last durable snapshot stands).
fn stop_on_signals(spec: &JobSpec) -> Result<(), String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let stopper = spec.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let name = if signal == SIGINT { "SIGINT" } else { "SIGTERM" };
                if stopper.stop_requested() {
                    say!(warn, "{name} again: aborting at once; the last durable snapshot stands");
                    std::process::exit(EXIT_ABORTED);
                }
                say!(warn,
                    "{name}: stopping in order (final snapshot, then commit); send it again to abort"
                );
                stopper.request_stop();
            }
        })
        .map(drop)
        .map_err(|e| format!("cannot start the signal thread: {e}"))
}

/// Exit code for a bad configuration or command line (as clap uses).
const EXIT_USAGE: u8 = 2;

/// Exit code when the snapshot to restore cannot be used: written by
/// another connector, corrupt, or missing. The snapshot directory needs a
/// person's decision (`--restore`, `--allow-foreign-snapshot`, another
/// `--snapshot-dir`); running again as is would fail the same way.
const EXIT_SNAPSHOT: u8 = 3;

/// The exit code of a job that failed with `e`: 2 for a bad
/// configuration, 3 for a snapshot that cannot be restored, 1 for a job
/// that failed while it ran (a task, the connector, a sink, another
/// process).
fn exit_code(e: &JobError) -> u8 {
    match e {
        JobError::Config { .. } => EXIT_USAGE,
        JobError::ForeignSnapshot { .. } | JobError::Snapshot(_) => EXIT_SNAPSHOT,
        JobError::Connector { .. } | JobError::Task(_) | JobError::Failed(_) => 1,
    }
}

/// Exit code when a second signal aborted a graceful stop (128 + SIGINT,
/// as shells report an interrupted command).
const EXIT_ABORTED: i32 = 130;

/// Refuses an output file that is the connector's input (`file=`): the
/// job would read what it writes.
fn output_clashes_with_input(spec: &JobSpec, outputs: [&Option<PathBuf>; 2]) -> Option<String> {
    let input = spec.config.props.get("file")?;
    let input = std::fs::canonicalize(input).ok()?;
    outputs.into_iter().flatten().find_map(|out| {
        // The output may not exist yet: compare its parent's real path.
        let parent = out.parent().filter(|p| !p.as_os_str().is_empty());
        let dir = std::fs::canonicalize(parent.unwrap_or(Path::new("."))).ok()?;
        let real = dir.join(out.file_name()?);
        (real == input).then(|| {
            format!(
                "{} is the connector's input file (file={}); the job would read what it writes",
                out.display(),
                input.display()
            )
        })
    })
}

/// How `--output` lays out converted records.
#[derive(Clone, Copy)]
struct Framing {
    length_prefixed: bool,
    with_key: bool,
}

/// Appends one converted record to `--output`'s block, framed as asked.
fn write_encoded(block: &mut Vec<u8>, r: &EncodedRecord, framing: Framing) {
    let field = |block: &mut Vec<u8>, bytes: &Option<Vec<u8>>| match bytes {
        Some(b) => {
            let len = i32::try_from(b.len()).unwrap_or(i32::MAX);
            block.extend_from_slice(&len.to_be_bytes());
            block.extend_from_slice(b);
        }
        None => block.extend_from_slice(&(-1i32).to_be_bytes()),
    };
    if framing.length_prefixed {
        if framing.with_key {
            field(block, &r.key);
        }
        field(block, &r.value);
    } else {
        if framing.with_key {
            block.extend_from_slice(r.key.as_deref().unwrap_or_default());
            block.push(b'\t');
        }
        block.extend_from_slice(r.value.as_deref().unwrap_or_default());
        block.push(b'\n');
    }
}

/// Prints records, rate and the last snapshot epoch to stderr, at most once a second,
/// and each task's progress (a snapshot's tables: done of the total, rate,
/// time left) while it has any. Ends when `done`'s sender is dropped.
fn report_progress(spec: &JobSpec, done: &std::sync::mpsc::Receiver<()>) {
    let mut last = (Instant::now(), 0u64);
    let mut progress = Progress::default();
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
        done.recv_timeout(Duration::from_millis(200))
    {
        let now = Instant::now();
        if now.duration_since(last.0) < Duration::from_secs(1) {
            continue;
        }
        let records = spec.stats().records.load(Ordering::Relaxed);
        let rate = (records - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
        let snap = spec
            .stats()
            .last_snapshot()
            .map_or("none".to_owned(), |e| e.to_string());
        say!(
            info,
            "records {records}  rate {rate:.0}/s  last snapshot {snap}"
        );
        for line in progress.lines(&spec.metrics().view(), now) {
            say!(info, "{line}");
        }
        last = (now, records);
    }
}

/// The progress gauges' last values, for rates between reports.
#[derive(Default)]
struct Progress {
    last: std::collections::HashMap<(usize, String, String), (Instant, f64)>,
}

impl Progress {
    /// One line per item still in progress: `snapshot public.orders: 120000
    /// of ~1000000 (12%), 45000/s, ~20 s left`.
    fn lines(&mut self, view: &timely_connect::runtime::JobView, now: Instant) -> Vec<String> {
        use timely_connect::api::{PROGRESS_DONE, PROGRESS_TOTAL};
        let label = |g: &timely_connect::api::Gauge, k: &str| {
            g.labels
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let mut out = Vec::new();
        for t in &view.tasks {
            for g in t.gauges.iter().filter(|g| g.name == PROGRESS_DONE) {
                let (phase, item) = (label(g, "phase"), label(g, "item"));
                let total = t
                    .gauges
                    .iter()
                    .find(|o| {
                        o.name == PROGRESS_TOTAL
                            && label(o, "phase") == phase
                            && label(o, "item") == item
                    })
                    .map(|o| o.value);
                let key = (t.task, phase.clone(), item.clone());
                let rate = self.last.get(&key).map(|(at, before)| {
                    (g.value - before) / now.duration_since(*at).as_secs_f64().max(1e-3)
                });
                self.last.insert(key, (now, g.value));
                if total.is_some_and(|total| g.value >= total) {
                    continue; // finished (an empty table: 0 of 0)
                }
                let mut line = format!("{phase} {item}: {:.0}", g.value);
                if let Some(total) = total.filter(|t| *t > 0.0) {
                    line.push_str(&format!(
                        " of ~{total:.0} ({:.0}%)",
                        (100.0 * g.value / total).min(100.0)
                    ));
                    if let Some(r) = rate.filter(|r| *r > 0.0) {
                        line.push_str(&format!(
                            ", {r:.0}/s, ~{:.0} s left",
                            ((total - g.value).max(0.0) / r).ceil()
                        ));
                    }
                } else if let Some(r) = rate.filter(|r| *r > 0.0) {
                    line.push_str(&format!(", {r:.0}/s"));
                }
                out.push(line);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use timely_connect::api::{Gauge, PROGRESS_DONE, PROGRESS_TOTAL};
    use timely_connect::runtime::{JobView, TaskView};

    fn view(done: f64, total: f64) -> JobView {
        let gauge = |name, value| Gauge {
            name,
            help: "",
            labels: vec![
                ("phase", "snapshot".to_owned()),
                ("item", "public.t".to_owned()),
            ],
            value,
        };
        JobView {
            connector: "pg".into(),
            tasks: vec![TaskView {
                task: 0,
                state: "RUNNING",
                polled: 0,
                written: 0,
                poll_batch_avg_ms: 0.0,
                dead_letters: 0,
                commits: 0,
                commit_failures: 0,
                commit_avg_ms: 0.0,
                commit_max_ms: 0.0,
                gauges: vec![gauge(PROGRESS_DONE, done), gauge(PROGRESS_TOTAL, total)],
            }],
            snapshots: 0,
            snapshot_failures: 0,
            last_snapshot_epoch: None,
            last_snapshot_age_seconds: None,
            last_snapshot_bytes: 0,
            last_snapshot_seconds: 0.0,
            restore_seconds: 0.0,
            records_in_flight: 0,
        }
    }

    #[test]
    fn progress_lines_show_share_rate_and_time_left_and_drop_finished_items() {
        let mut p = Progress::default();
        let t0 = Instant::now();
        assert_eq!(
            p.lines(&view(1_000.0, 10_000.0), t0),
            ["snapshot public.t: 1000 of ~10000 (10%)"]
        );
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(
            p.lines(&view(5_000.0, 10_000.0), t1),
            ["snapshot public.t: 5000 of ~10000 (50%), 2000/s, ~3 s left"]
        );
        // Finished (done == total, also 0 of 0 for an empty table): gone.
        assert!(p.lines(&view(10_000.0, 10_000.0), t1).is_empty());
        assert!(p.lines(&view(0.0, 0.0), t1).is_empty());
    }
}
