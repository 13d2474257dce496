//! The JVM bridge: unmodified Java Kafka Connect source connectors run as
//! timely-connect connectors.
//!
//! - One embedded JVM per process, started on first use with `libjvm`
//!   loaded at run time (from `JAVA_HOME`, else the `java` on `PATH`; never
//!   linked), never destroyed.
//! - A small Java shim (`java/`, compiled by `build.rs` and embedded) that
//!   hosts connectors and tasks; Rust calls it through one static method
//!   with byte-array messages, one crossing per poll.
//! - Kafka Connect's plugin discovery and isolation: each plugin (a
//!   directory of jars, an uber-jar, or a directory of classes under a
//!   `plugin.path` entry) in a child-first class loader of its own over the
//!   worker class path, with Kafka's parent-first exceptions.
//! - [`install`] makes a [`timely_connect::plugins::PluginSet`] resolve
//!   Java connector classes.

mod bridge;
mod codec;
mod connector;
mod logging;

pub use bridge::{shim_dir, Bridge, CallError, JavaException};
pub use codec::{BatchDecoder, CodecError, Reader, Writer};
pub use connector::{install, resolve, JavaSettings, JavaSourceConnector, JavaSourceTask};

/// The stack of the thread that calls a Java task's `stop()` from outside.
pub(crate) const STOPPER_STACK_BYTES: usize = 1 << 20;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use jni::objects::{JObject, JValue};
use jni::{jni_sig, jni_str, Env, InitArgsBuilder, JNIVersion, JavaVM};

/// Why the JVM could not be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JvmError {
    /// No JVM was found.
    #[error("no JVM found: {0}. Set JAVA_HOME to a JDK 17 or newer, or put its `java` on PATH")]
    NotFound(String),
    /// The JVM did not start.
    #[error("the JVM did not start ({libjvm}): {message}")]
    Start {
        /// The library loaded.
        libjvm: String,
        /// Why.
        message: String,
    },
    /// A call into Java failed; the Java exception, if any, is described.
    #[error("{0}")]
    Java(String),
}

/// How the JVM starts.
#[derive(Clone, Debug, Default)]
pub struct JvmOptions {
    /// The worker's platform class path (jars and directories).
    pub class_path: Vec<PathBuf>,
    /// Options from the `jvm.options` key and `TIMELY_CONNECT_JVM_OPTIONS`,
    /// after the defaults (later options win).
    pub options: Vec<String>,
}

/// Where `scripts/install-java-plugins.sh` puts the worker's jars
/// (`platform/`) and the connector plugins (`plugins/`):
/// `$TIMELY_CONNECT_JAVA_DIR`, else `~/.local/share/timely-connect/java`.
pub fn default_java_dir() -> PathBuf {
    match std::env::var_os("TIMELY_CONNECT_JAVA_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".local/share/timely-connect/java"),
    }
}

/// The jars of a directory (the platform class path), sorted.
pub fn jars_in(dir: &Path) -> Vec<PathBuf> {
    let mut jars: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "jar"))
                .collect()
        })
        .unwrap_or_default();
    jars.sort();
    jars
}

/// The environment variable whose whitespace-separated JVM options are
/// added after [`JvmOptions::options`] (so they win).
pub const JVM_OPTIONS_ENV: &str = "TIMELY_CONNECT_JVM_OPTIONS";

/// A system property of the running JVM (`System.getProperty`).
pub fn system_property(vm: &JavaVM, name: &str) -> Result<Option<String>, JvmError> {
    let result = vm.attach_current_thread(
        |env| -> Result<Result<Option<String>, JvmError>, jni::errors::Error> {
            env.with_local_frame(8, |env| {
                let key = env.new_string(name)?;
                let value = match env
                    .call_static_method(
                        jni_str!("java/lang/System"),
                        jni_str!("getProperty"),
                        jni_sig!("(Ljava/lang/String;)Ljava/lang/String;"),
                        &[JValue::Object(&key)],
                    )
                    .and_then(|v| v.l())
                {
                    Ok(v) => v,
                    Err(e) => return Ok(Err(java_error(env, "System.getProperty", e))),
                };
                Ok(Ok(if value.is_null() {
                    None
                } else {
                    string_of(env, value)
                }))
            })
        },
    );
    result.map_err(|e| JvmError::Java(e.to_string()))?
}

/// The options every JVM gets first: a bounded heap, `-Xrs` (the JVM must
/// not take our SIGINT/SIGTERM), no perf-data file.
pub const DEFAULT_OPTIONS: &[&str] = &["-Xmx1g", "-Xrs", "-XX:-UsePerfData"];

/// The collector every JVM gets unless its options choose another.
pub const DEFAULT_GC: &str = "-XX:+UseParallelGC";

/// The `libjvm` to load: `$JAVA_HOME/lib/server/libjvm.so` when `JAVA_HOME`
/// is set (an error naming it if that file is missing), else the one of
/// the `java` on `PATH`, symlinks resolved.
pub fn locate_libjvm() -> Result<PathBuf, JvmError> {
    let lib = |home: &Path| {
        [
            "lib/server/libjvm.so",
            "jre/lib/server/libjvm.so",
            "lib/server/libjvm.dylib",
        ]
        .iter()
        .map(|p| home.join(p))
        .find(|p| p.is_file())
    };
    if let Some(home) = std::env::var_os("JAVA_HOME") {
        let home = PathBuf::from(home);
        return lib(&home).ok_or_else(|| {
            JvmError::NotFound(format!(
                "JAVA_HOME={} has no lib/server/libjvm.so",
                home.display()
            ))
        });
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let java = dir.join("java");
        if java.is_file() {
            let real = std::fs::canonicalize(&java).unwrap_or(java);
            // .../bin/java → ...
            if let Some(found) = real.parent().and_then(Path::parent).and_then(lib) {
                return Ok(found);
            }
        }
    }
    Err(JvmError::NotFound(
        "JAVA_HOME is not set and no `java` with a libjvm is on PATH".to_owned(),
    ))
}

static JVM: OnceLock<Result<JavaVM, JvmError>> = OnceLock::new();

/// The process's JVM, started on the first call with `options` (later
/// calls get the same JVM; it is never destroyed).
pub fn jvm(options: &JvmOptions) -> Result<&'static JavaVM, JvmError> {
    JVM.get_or_init(|| start(options))
        .as_ref()
        .map_err(Clone::clone)
}

fn start(options: &JvmOptions) -> Result<JavaVM, JvmError> {
    let libjvm = locate_libjvm()?;
    // Every JVM we start carries the shim and its SLF4J provider.
    let mut class_path_entries = options.class_path.clone();
    class_path_entries.push(bridge::shim_dir()?);
    let class_path = std::env::join_paths(&class_path_entries)
        .map_err(|e| JvmError::Java(format!("class path: {e}")))?;
    let mut builder = InitArgsBuilder::new().version(JNIVersion::V1_8);
    for option in DEFAULT_OPTIONS {
        builder = builder.option(*option);
    }
    builder = builder.option(format!(
        "-Djava.class.path={}",
        class_path.to_string_lossy()
    ));
    builder = builder.option("-Dslf4j.provider=io.timelyconnect.bridge.Slf4jProvider");
    builder = builder.option("-Dslf4j.internal.verbosity=WARN");
    let from_env = std::env::var(JVM_OPTIONS_ENV).unwrap_or_default();
    let given: Vec<&str> = options
        .options
        .iter()
        .map(String::as_str)
        .chain(from_env.split_whitespace())
        .collect();
    // The throughput collector unless the user picks one (two would
    // conflict): connectors allocate many short-lived objects, and on a few
    // cores G1's concurrent work takes CPU from the connector's own threads
    // (Debezium's PostgreSQL connector: 1.16x the events/s of G1; see
    // BENCHMARKS.md).
    if !given
        .iter()
        .any(|o| o.starts_with("-XX:+Use") && o.ends_with("GC"))
    {
        builder = builder.option(DEFAULT_GC);
    }
    for option in given {
        builder = builder.option(option.to_owned());
    }
    let start_error = |message: String| JvmError::Start {
        libjvm: libjvm.display().to_string(),
        message,
    };
    let args = builder.build().map_err(|e| start_error(e.to_string()))?;
    let vm =
        JavaVM::with_libjvm(args, || Ok(libjvm.clone())).map_err(|e| start_error(e.to_string()))?;
    tracing::info!(libjvm = %libjvm.display(), "JVM started");
    Ok(vm)
}

/// One plugin under a `plugin.path` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginLocation {
    /// The plugin directory, uber-jar or class directory.
    pub path: PathBuf,
    /// What its class loader reads: its jars, or the directory itself.
    pub urls: Vec<PathBuf>,
}

/// Kafka Connect's plugin layout: every child of each `plugin.path`
/// directory is one plugin — a directory of jars, a jar, or a directory of
/// classes. Sorted by path.
///
/// ```
/// use timely_connect_jvm::plugin_locations;
///
/// let root = tempfile::tempdir()?;
/// std::fs::create_dir(root.path().join("debezium-connector-postgres"))?;
/// std::fs::write(root.path().join("debezium-connector-postgres/a.jar"), b"")?;
/// std::fs::write(root.path().join("debezium-connector-postgres/b.jar"), b"")?;
/// std::fs::write(root.path().join("uber.jar"), b"")?;
/// std::fs::create_dir(root.path().join("classes"))?;
/// let found = plugin_locations(&[root.path().to_path_buf()]);
/// let urls: Vec<usize> = found.iter().map(|p| p.urls.len()).collect();
/// assert_eq!(found.len(), 3); // classes/, debezium-connector-postgres/, uber.jar
/// assert_eq!(urls, vec![1, 2, 1]);
/// assert_eq!(found[0].urls[0], root.path().join("classes")); // a directory of classes
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn plugin_locations(plugin_path: &[PathBuf]) -> Vec<PluginLocation> {
    let mut found = Vec::new();
    for root in plugin_path {
        let Ok(entries) = std::fs::read_dir(root) else {
            tracing::warn!(path = %root.display(), "plugin.path entry is not a readable directory");
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() && path.extension().is_some_and(|e| e == "jar") {
                found.push(PluginLocation {
                    urls: vec![path.clone()],
                    path,
                });
            } else if path.is_dir() {
                let jars = jars_in(&path);
                let urls = if jars.is_empty() {
                    vec![path.clone()]
                } else {
                    jars
                };
                found.push(PluginLocation { path, urls });
            }
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

/// A Java source connector found in a plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JavaConnector {
    /// Its class name.
    pub class: String,
    /// What its `version()` returned.
    pub version: String,
    /// The plugin it was loaded from.
    pub plugin: PathBuf,
}

/// Loads each plugin in a class loader of its own (child-first, over the
/// worker class path) and lists the source connectors it holds — those its
/// service files declare, else those a scan of its classes finds — with
/// their `version()`. A plugin that fails to load is reported, not fatal:
/// its error is in the second list.
pub fn list_connectors(
    bridge: &Bridge,
    plugins: &[PluginLocation],
) -> (Vec<JavaConnector>, Vec<(PathBuf, JvmError)>) {
    let mut w = codec::Writer::default();
    connector::write_locations(&mut w, plugins);
    let reply = match bridge.call(bridge::Op::List, 0, &w.buf) {
        Ok(r) => r,
        Err(e) => {
            return (
                Vec::new(),
                vec![(PathBuf::from("plugin.path"), JvmError::Java(e.to_string()))],
            )
        }
    };
    let mut r = codec::Reader::new(&reply);
    let mut read = || -> Result<_, codec::CodecError> {
        let mut connectors = Vec::new();
        for _ in 0..r.varint()? {
            let class = r.str()?;
            let version = r.str()?;
            let plugin = PathBuf::from(r.str()?);
            if r.u8()? == 0 {
                connectors.push(JavaConnector {
                    class,
                    version,
                    plugin,
                });
            }
        }
        let mut failures = Vec::new();
        for _ in 0..r.varint()? {
            let plugin = PathBuf::from(r.str()?);
            failures.push((plugin, JvmError::Java(r.str()?)));
        }
        Ok((connectors, failures))
    };
    match read() {
        Ok((mut connectors, failures)) => {
            connectors.sort_by(|a, b| a.class.cmp(&b.class));
            (connectors, failures)
        }
        Err(e) => (
            Vec::new(),
            vec![(PathBuf::from("plugin.path"), JvmError::Java(e.to_string()))],
        ),
    }
}

/// Describes and clears a pending Java exception after a failed call.
fn java_error(env: &mut Env, what: &str, e: jni::errors::Error) -> JvmError {
    if env.exception_check() {
        if let Some(throwable) = env.exception_occurred() {
            env.exception_clear();
            let text = env
                .call_method(
                    &throwable,
                    jni_str!("toString"),
                    jni_sig!("()Ljava/lang/String;"),
                    &[],
                )
                .and_then(|v| v.l())
                .ok()
                .and_then(|s| {
                    let s = jni::objects::JString::cast_local(env, s).ok()?;
                    s.try_to_string(env).ok()
                });
            return JvmError::Java(format!("{what}: {}", text.unwrap_or_else(|| e.to_string())));
        }
        env.exception_clear();
    }
    JvmError::Java(format!("{what}: {e}"))
}

fn string_of(env: &mut Env, obj: JObject) -> Option<String> {
    let s = jni::objects::JString::cast_local(env, obj).ok()?;
    s.try_to_string(env).ok()
}
