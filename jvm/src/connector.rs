//! Java source connectors as [`SourceConnector`]s and [`SourceTask`]s:
//! the Kafka Connect lifecycle answered from our runtime through the shim.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, SendTimeoutError, Sender};

use timely_connect::api::ConnectorPlugin;
use timely_connect::api::{ConnectorRequests, SourceConnector, SourceTask, SourceTaskContext};
use timely_connect::config::common::{
    JVM_CLASSPATH_CONFIG, JVM_OPTIONS_CONFIG, PLUGIN_PATH_CONFIG,
};
use timely_connect::config::{ConfigIssue, ConfigKey, ConfigType, Importance};
use timely_connect::data::{SourceOffset, SourcePartition, SourceRecord};
use timely_connect::plugins::PluginSet;
use timely_connect::{ConfigDef, ConnectError, Properties};

use crate::bridge::{Bridge, CallError, JavaException, Op};
use crate::codec::{BatchDecoder, Reader, Writer};
use crate::{default_java_dir, jars_in, plugin_locations, JvmOptions, PluginLocation};

/// Where a job's Java connectors come from: `plugin.path`,
/// `jvm.classpath` and `jvm.options`, with the installed defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JavaSettings {
    /// The `plugin.path` directories.
    pub plugin_path: Vec<PathBuf>,
    /// The worker class path: jars and class directories.
    pub class_path: Vec<PathBuf>,
    /// JVM options.
    pub jvm_options: Vec<String>,
}

fn list(props: &Properties, key: &str) -> Vec<String> {
    props
        .get(key)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

impl JavaSettings {
    /// The settings `props` give (empty keys: the directories
    /// `scripts/install-java-plugins.sh` fills).
    ///
    /// ```
    /// use timely_connect_jvm::JavaSettings;
    /// let mut props = timely_connect::Properties::new();
    /// props.insert("plugin.path".into(), "/opt/a, /opt/b".into());
    /// props.insert("jvm.options".into(), "-Xmx2g -Dx=y".into());
    /// let s = JavaSettings::from_props(&props);
    /// assert_eq!(s.plugin_path, vec![std::path::PathBuf::from("/opt/a"), "/opt/b".into()]);
    /// assert_eq!(s.jvm_options, vec!["-Xmx2g", "-Dx=y"]);
    /// ```
    pub fn from_props(props: &Properties) -> JavaSettings {
        let home = default_java_dir();
        let mut plugin_path: Vec<PathBuf> = list(props, PLUGIN_PATH_CONFIG)
            .into_iter()
            .map(PathBuf::from)
            .collect();
        if plugin_path.is_empty() {
            plugin_path.push(home.join("plugins"));
        }
        let mut class_path = Vec::new();
        for entry in list(props, JVM_CLASSPATH_CONFIG) {
            let path = PathBuf::from(entry);
            let jars = jars_in(&path);
            if path.is_dir() && !jars.is_empty() {
                class_path.extend(jars);
            } else {
                class_path.push(path);
            }
        }
        if class_path.is_empty() {
            class_path = jars_in(&home.join("platform"));
        }
        let jvm_options = props
            .get(JVM_OPTIONS_CONFIG)
            .map(|o| o.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        JavaSettings {
            plugin_path,
            class_path,
            jvm_options,
        }
    }

    /// The process's bridge, started with these settings if it is not yet.
    pub fn bridge(&self) -> Result<&'static Bridge, String> {
        if let Some(bridge) = Bridge::running() {
            return Ok(bridge);
        }
        if self.class_path.is_empty() {
            return Err(format!(
                "the JVM has no worker class path: {} holds no jars and jvm.classpath is not set; run scripts/install-java-plugins.sh, or point jvm.classpath at a Kafka distribution's libs/",
                default_java_dir().join("platform").display()
            ));
        }
        Bridge::get(&JvmOptions {
            class_path: self.class_path.clone(),
            options: self.jvm_options.clone(),
        })
        .map_err(|e| e.to_string())
    }

    /// The plugins under `plugin.path`.
    pub fn locations(&self) -> Vec<PluginLocation> {
        plugin_locations(&self.plugin_path)
    }
}

/// Writes plugin locations for the shim.
pub(crate) fn write_locations(w: &mut Writer, locations: &[PluginLocation]) {
    w.varint(locations.len() as u64);
    for loc in locations {
        w.str(&loc.path.display().to_string());
        let urls: Vec<String> = loc.urls.iter().map(|u| u.display().to_string()).collect();
        w.strs(urls.iter().map(String::as_str));
    }
}

/// Writes `(partition, offset)` pairs for the shim's offset reader.
fn write_offsets<'a>(
    w: &mut Writer,
    offsets: impl ExactSizeIterator<Item = (&'a SourcePartition, &'a SourceOffset)>,
) {
    w.varint(offsets.len() as u64);
    for (partition, offset) in offsets {
        w.offset_map(partition.map());
        w.u8(6).offset_map(&offset.to_map());
    }
}

/// What the shim found for a `connector.class`.
#[derive(Clone, Debug)]
struct Found {
    handle: i64,
    class: String,
    version: String,
    plugin: String,
    def: ConfigDef,
}

fn config_type(java: &str) -> ConfigType {
    match java {
        "BOOLEAN" => ConfigType::Boolean,
        "INT" | "SHORT" => ConfigType::Int,
        "LONG" => ConfigType::Long,
        "DOUBLE" => ConfigType::Double,
        "LIST" => ConfigType::List,
        "CLASS" => ConfigType::Class,
        "PASSWORD" => ConfigType::Password,
        _ => ConfigType::String,
    }
}

fn new_connector(
    bridge: &Bridge,
    locations: &[PluginLocation],
    class: &str,
) -> Result<Found, CallError> {
    let mut w = Writer::default();
    write_locations(&mut w, locations);
    w.str(class);
    let reply = bridge.call(Op::ConnectorNew, 0, &w.buf)?;
    let mut r = Reader::new(&reply);
    let handle = r.i64()?;
    let class = r.str()?;
    let version = r.str()?;
    let plugin = r.str()?;
    let n = r.varint()?;
    let mut def = ConfigDef::new();
    for _ in 0..n {
        let name = r.str()?;
        let ty = config_type(&r.str()?);
        let default = match r.u8()? {
            0 => None,
            _ => Some(r.opt_str()?),
        };
        let importance = match r.str()?.as_str() {
            "HIGH" => Importance::High,
            "MEDIUM" => Importance::Medium,
            _ => Importance::Low,
        };
        let doc = r.opt_str()?.unwrap_or_default();
        let group = r.opt_str()?;
        let order = r.i32()?;
        let mut key = ConfigKey::new(&name, ty, importance, doc.trim());
        key = match default {
            Some(Some(d)) => key.default_value(&d),
            Some(None) => key.optional(),
            None => key,
        };
        if let Some(g) = group {
            key = key.group(&g, order);
        }
        def = def.define(key);
    }
    Ok(Found {
        handle,
        class,
        version,
        plugin,
        def,
    })
}

/// The error for a `connector.class` the bridge could not run.
fn resolve_error(class: &str, settings: &JavaSettings, e: CallError) -> String {
    let searched = settings
        .plugin_path
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    match e {
        CallError::Java(JavaException { kind, extras, .. }) if kind == "notfound" => {
            let (failures, known): (Vec<&String>, Vec<&String>) =
                extras.iter().partition(|e| e.starts_with('!'));
            let names: Vec<&str> = known.iter().map(|s| s.as_str()).collect();
            let simple: Vec<&str> = names
                .iter()
                .map(|n| n.rsplit('.').next().unwrap_or(n))
                .collect();
            let nearest = timely_connect::config::nearest(class, &names).or_else(|| {
                let short = class.rsplit('.').next().unwrap_or(class);
                timely_connect::config::nearest(short, &simple).and_then(|s| {
                    names
                        .iter()
                        .find(|n| n.ends_with(&format!(".{s}")) || **n == s)
                        .map(|n| (*n).to_owned())
                })
            });
            let mut msg = format!(
                "unknown connector class `{class}`: no native connector has that name, and no Java plugin has it (plugin.path: {searched})"
            );
            if let Some(n) = nearest {
                msg.push_str(&format!("; did you mean `{n}`?"));
            }
            if names.is_empty() {
                msg.push_str("; no Java source connectors were found there (run scripts/install-java-plugins.sh, or set plugin.path)");
            } else {
                msg.push_str(&format!(
                    "; Java source connectors found: {}",
                    names.join(", ")
                ));
            }
            for f in failures {
                let (plugin, why) = f[1..].split_once(": ").unwrap_or((&f[1..], ""));
                msg.push_str(&format!("; plugin {plugin} failed to load: {why}"));
            }
            msg
        }
        CallError::Java(j) => j.message,
        CallError::Jvm(e) => format!("cannot run Java connector `{class}`: {e}"),
    }
}

/// Makes the registry run Java connectors: classes no native connector
/// answers to (or any, with `connector.runtime=jvm`) are looked up under
/// `plugin.path` in the embedded JVM.
pub fn install(registry: &mut PluginSet) {
    registry.set_resolver(Arc::new(resolve));
}

/// Finds `class` among the Java plugins `props` point at.
pub fn resolve(class: &str, props: &Properties) -> Result<ConnectorPlugin, String> {
    let settings = JavaSettings::from_props(props);
    let bridge = settings.bridge()?;
    let locations = settings.locations();
    let found =
        new_connector(bridge, &locations, class).map_err(|e| resolve_error(class, &settings, e))?;
    // The probe instance is not kept: the factory makes fresh ones.
    let _ = bridge.call(Op::Release, found.handle, &[]);
    let full = found.class.clone();
    let simple = full.rsplit('.').next().unwrap_or(&full).to_owned();
    let mut aliases = vec![simple.clone()];
    if let Some(short) = simple.strip_suffix("Connector").filter(|s| !s.is_empty()) {
        aliases.push(short.to_owned());
    }
    if class != full && !aliases.iter().any(|a| a == class) {
        aliases.push(class.to_owned());
    }
    let aliases: Vec<&str> = aliases.iter().map(String::as_str).collect();
    let summary = format!(
        "Java connector {} {} (plugin {})",
        found.class, found.version, found.plugin
    );
    let class = full.clone();
    Ok(ConnectorPlugin::new(&full, &aliases, &summary, move || {
        Box::new(JavaSourceConnector::new(
            bridge,
            settings.clone(),
            locations.clone(),
            &class,
        ))
    }))
}

/// A Java `SourceConnector` run through the bridge.
pub struct JavaSourceConnector {
    bridge: &'static Bridge,
    settings: JavaSettings,
    locations: Vec<PluginLocation>,
    class: String,
    found: Result<Found, String>,
    name: String,
    stopped: bool,
}

fn connect_error(e: CallError) -> ConnectError {
    match e {
        CallError::Java(j) => match j.kind.as_str() {
            "retriable" => ConnectError::Retriable(j.message),
            "config" => ConnectError::Config(match j.key {
                Some(key) => format!("key `{key}`: {}", j.message),
                None => j.message,
            }),
            _ => ConnectError::Fatal(j.message),
        },
        CallError::Jvm(e) => ConnectError::Fatal(e.to_string()),
    }
}

impl JavaSourceConnector {
    fn new(
        bridge: &'static Bridge,
        settings: JavaSettings,
        locations: Vec<PluginLocation>,
        class: &str,
    ) -> Self {
        let found = new_connector(bridge, &locations, class)
            .map_err(|e| resolve_error(class, &settings, e));
        JavaSourceConnector {
            bridge,
            settings,
            locations,
            class: class.to_owned(),
            found,
            name: String::new(),
            stopped: false,
        }
    }

    fn handle(&self) -> Result<i64, ConnectError> {
        self.found
            .as_ref()
            .map(|f| f.handle)
            .map_err(|e| ConnectError::Fatal(e.clone()))
    }

    fn call(&self, op: Op, args: impl FnOnce(&mut Writer)) -> Result<Vec<u8>, ConnectError> {
        self.call_as(&self.name, op, args)
    }

    /// A call whose Java logs name connector `name`.
    fn call_as(
        &self,
        name: &str,
        op: Op,
        args: impl FnOnce(&mut Writer),
    ) -> Result<Vec<u8>, ConnectError> {
        let handle = self.handle()?;
        let mut w = Writer::default();
        w.str(name);
        args(&mut w);
        self.bridge.call(op, handle, &w.buf).map_err(connect_error)
    }
}

impl SourceConnector for JavaSourceConnector {
    fn version(&self) -> String {
        self.found
            .as_ref()
            .map(|f| f.version.clone())
            .unwrap_or_default()
    }

    fn config_def(&self) -> ConfigDef {
        self.found
            .as_ref()
            .map(|f| f.def.clone())
            .unwrap_or_default()
    }

    fn validate(&self, props: &Properties) -> Vec<ConfigIssue> {
        let name = props.get("name").map_or("", String::as_str);
        let reply = match self.call_as(name, Op::Validate, |w| {
            w.props(props);
        }) {
            Ok(r) => r,
            Err(e) => {
                return vec![ConfigIssue::new(
                    "connector.class",
                    format!("{}: validate() failed: {e}", self.class),
                )]
            }
        };
        let mut r = Reader::new(&reply);
        let mut issues = Vec::new();
        let n = r.varint().unwrap_or(0);
        for _ in 0..n {
            match (r.str(), r.str()) {
                (Ok(key), Ok(message)) => issues.push(ConfigIssue::new(&key, message)),
                _ => break,
            }
        }
        issues
    }

    fn start(&mut self, props: &Properties) -> Result<(), ConnectError> {
        self.name = props.get("name").cloned().unwrap_or_default();
        self.call(Op::Start, |w| {
            w.props(props);
        })
        .map(|_| ())
    }

    fn task_configs(&self, max_tasks: usize) -> Result<Vec<Properties>, ConnectError> {
        let reply = self.call(Op::TaskConfigs, |w| {
            w.i32(i32::try_from(max_tasks).unwrap_or(i32::MAX));
        })?;
        let mut r = Reader::new(&reply);
        let decode =
            |r: &mut Reader| -> Result<(String, Vec<Properties>), crate::codec::CodecError> {
                let task_class = r.str()?;
                let n = r.varint()?;
                let configs = (0..n).map(|_| r.props()).collect::<Result<Vec<_>, _>>()?;
                Ok((task_class, configs))
            };
        let (task_class, mut configs) =
            decode(&mut r).map_err(|e| ConnectError::Fatal(e.to_string()))?;
        if task_class.is_empty() {
            return Err(ConnectError::Fatal(format!(
                "{}.taskClass() returned null",
                self.class
            )));
        }
        if configs.len() > max_tasks {
            return Err(ConnectError::Fatal(format!(
                "{}.taskConfigs({max_tasks}) returned {} task configs, more than tasks.max={max_tasks}",
                self.class,
                configs.len()
            )));
        }
        let class = self
            .found
            .as_ref()
            .map(|f| f.class.clone())
            .unwrap_or_else(|_| self.class.clone());
        for c in &mut configs {
            c.insert("connector.class".to_owned(), class.clone());
            c.entry("name".to_owned())
                .or_insert_with(|| self.name.clone());
        }
        Ok(configs)
    }

    fn create_task(&self) -> Box<dyn SourceTask> {
        let class = self
            .found
            .as_ref()
            .map(|f| f.class.clone())
            .unwrap_or_else(|_| self.class.clone());
        Box::new(JavaSourceTask {
            bridge: self.bridge,
            locations: self.locations.clone(),
            connector_class: class,
            handle: None,
            decoder: BatchDecoder::default(),
            context: None,
            acked: 0,
            done: Arc::new(AtomicBool::new(false)),
            settings: self.settings.clone(),
            batches: None,
            poller: None,
        })
    }

    fn context_requests(&mut self) -> ConnectorRequests {
        if self.stopped || self.found.is_err() {
            return ConnectorRequests::default();
        }
        let reply = match self.call(Op::ConnectorState, |_| {}) {
            Ok(r) => r,
            Err(e) => {
                return ConnectorRequests {
                    reconfigure: false,
                    error: Some(e.to_string()),
                }
            }
        };
        let mut r = Reader::new(&reply);
        let reconfigure = r.u8().unwrap_or(0) != 0;
        let error = r.opt_str().unwrap_or(None);
        ConnectorRequests { reconfigure, error }
    }

    fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if let Err(e) = self.call(Op::ConnectorStop, |_| {}) {
            tracing::warn!(connector = %self.name, error = %e, "Java connector stop() failed");
        }
    }
}

impl Drop for JavaSourceConnector {
    fn drop(&mut self) {
        if let (Ok(f), false) = (&self.found, self.stopped) {
            let _ = self.bridge.call(Op::Release, f.handle, &[]);
        }
    }
}

/// A Java `SourceTask` run through the bridge.
pub struct JavaSourceTask {
    bridge: &'static Bridge,
    locations: Vec<PluginLocation>,
    connector_class: String,
    handle: Option<i64>,
    decoder: BatchDecoder,
    context: Option<SourceTaskContext>,
    acked: u64,
    done: Arc<AtomicBool>,
    settings: JavaSettings,
    /// Batches the poller thread got from Java's `poll()`.
    batches: Option<Receiver<Result<Vec<u8>, CallError>>>,
    poller: Option<std::thread::JoinHandle<()>>,
}

/// The stack of the thread that runs a Java task's `poll()`: 8 MiB, as a
/// JVM's main thread gets.
const POLLER_STACK_BYTES: usize = 8 << 20;

/// Runs Java's `poll()` in a loop on a thread of its own, so the next
/// batch is read and encoded in Java while Rust decodes and processes the
/// previous one (Kafka Connect, too, calls `commitRecord` and `commit` on
/// other threads than `poll`). Two batches at most wait.
fn poller(
    bridge: &'static Bridge,
    handle: i64,
    done: Arc<AtomicBool>,
    token: timely_connect::api::StopToken,
    tx: Sender<Result<Vec<u8>, CallError>>,
) {
    let stopping = || done.load(Ordering::SeqCst) || token.is_stopped();
    while !stopping() {
        let reply = bridge.call(Op::Poll, handle, &[]);
        let fatal = match &reply {
            Ok(r) if r.first() != Some(&1) => continue, // nothing now
            Ok(_) => false,
            Err(CallError::Java(j)) => j.kind != "retriable",
            Err(_) => true,
        };
        let mut item = reply;
        loop {
            match tx.send_timeout(item, Duration::from_millis(100)) {
                Ok(()) => break,
                Err(SendTimeoutError::Timeout(back)) if !stopping() => item = back,
                Err(_) => return,
            }
        }
        if fatal {
            return;
        }
    }
}

impl JavaSourceTask {
    fn handle(&self) -> Result<i64, ConnectError> {
        self.handle
            .ok_or_else(|| ConnectError::Fatal("the Java task was not started".to_owned()))
    }
}

impl SourceTask for JavaSourceTask {
    fn start(&mut self, context: SourceTaskContext) -> Result<(), ConnectError> {
        let config = context.configs().clone();
        let task_class = config
            .get("task.class")
            .cloned()
            .ok_or_else(|| ConnectError::Fatal("the task config has no task.class".to_owned()))?;
        let label = format!("{}|task-{}", context.connector, context.task_id);
        let mut w = Writer::default();
        write_locations(&mut w, &self.locations);
        w.str(&self.connector_class).str(&task_class).str(&label);
        let reply =
            self.bridge
                .call(Op::TaskNew, 0, &w.buf)
                .map_err(|e| match e {
                    CallError::Java(j) if j.kind == "notfound" => ConnectError::Fatal(
                        resolve_error(&self.connector_class, &self.settings, CallError::Java(j)),
                    ),
                    e => connect_error(e),
                })?;
        let handle = Reader::new(&reply)
            .i64()
            .map_err(|e| ConnectError::Fatal(e.to_string()))?;
        self.handle = Some(handle);
        let mut w = Writer::default();
        w.props(&config);
        write_offsets(&mut w, context.offset_storage_reader().all().iter());
        self.bridge
            .call(Op::TaskStart, handle, &w.buf)
            .map_err(connect_error)?;
        // Kafka stops a task from another thread, so a poll() blocked in
        // Java wakes up: do the same when the framework fires the token.
        let token = context.stop_token().clone();
        let done = self.done.clone();
        let bridge = self.bridge;
        std::thread::Builder::new()
            .name(format!(
                "{}-task-{}-stop",
                context.connector, context.task_id
            ))
            .stack_size(crate::STOPPER_STACK_BYTES)
            .spawn(move || {
                while !token.sleep(Duration::from_secs(3600)) {}
                if !done.load(Ordering::SeqCst) {
                    if let Err(e) = bridge.call(Op::TaskStop, handle, &[]) {
                        tracing::warn!(error = %e, "Java task stop() failed");
                    }
                }
            })
            .map_err(|e| {
                ConnectError::Fatal(format!("cannot start the task's stop thread: {e}"))
            })?;
        let (tx, rx) = bounded(2);
        let (done, token) = (self.done.clone(), context.stop_token().clone());
        let bridge = self.bridge;
        let poller = std::thread::Builder::new()
            .name(format!(
                "{}-task-{}-poll",
                context.connector, context.task_id
            ))
            .stack_size(POLLER_STACK_BYTES)
            .spawn(move || poller(bridge, handle, done, token, tx))
            .map_err(|e| {
                ConnectError::Fatal(format!("cannot start the task's poll thread: {e}"))
            })?;
        self.batches = Some(rx);
        self.poller = Some(poller);
        self.context = Some(context);
        Ok(())
    }

    fn poll(&mut self) -> Result<Option<Vec<SourceRecord>>, ConnectError> {
        let Some(batches) = &self.batches else {
            return Err(ConnectError::Fatal(
                "the Java task was not started".to_owned(),
            ));
        };
        match batches.recv_timeout(Duration::from_millis(250)) {
            Ok(Ok(reply)) => self
                .decoder
                .decode(reply.get(1..).unwrap_or_default())
                .map(Some)
                .map_err(|e| ConnectError::Fatal(e.to_string())),
            Ok(Err(e)) => Err(connect_error(e)),
            // Nothing yet, or the poller has stopped (the task is stopping).
            Err(_) => Ok(None),
        }
    }

    fn commit(&mut self) -> Result<(), ConnectError> {
        let handle = self.handle()?;
        let durable = self
            .context
            .as_ref()
            .map_or(self.acked, SourceTaskContext::committed_polls);
        let mut w = Writer::default();
        w.varint(durable.saturating_sub(self.acked));
        self.acked = self.acked.max(durable);
        // What the snapshot made durable: the task's OffsetStorageReader
        // answers with it from now on, as Kafka's offset store would.
        let committed = self
            .context
            .as_ref()
            .map(SourceTaskContext::committed_offsets)
            .unwrap_or_default();
        write_offsets(&mut w, committed.iter());
        self.bridge
            .call(Op::Commit, handle, &w.buf)
            .map(|_| ())
            .map_err(connect_error)
    }

    fn stop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            if let Err(e) = self.bridge.call(Op::TaskStop, handle, &[]) {
                tracing::warn!(error = %e, "Java task stop() failed");
            }
            // The poller returns once Java's poll() does; then the handle goes.
            self.batches = None;
            if let Some(poller) = self.poller.take() {
                let _ = poller.join();
            }
            let _ = self.bridge.call(Op::Release, handle, &[]);
        }
        // Wake the stop thread so it ends.
        if let Some(c) = &self.context {
            c.stop_token().stop();
        }
    }
}
