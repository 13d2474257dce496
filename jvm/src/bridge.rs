//! Calls into the Java shim: one static method,
//! `io.timelyconnect.bridge.Bridge.call(int op, long handle, byte[] arg)`,
//! whose result is a status byte and a payload (see `Bridge.java`).

use std::path::PathBuf;
use std::sync::OnceLock;

use jni::objects::{JByteArray, JClass, JValue};
use jni::refs::Global;
use jni::{jni_sig, jni_str, JavaVM};

use crate::codec::{CodecError, Reader};
use crate::JvmError;

include!(concat!(env!("OUT_DIR"), "/shim.rs"));

/// The shim's operations (`Bridge.java`).
#[derive(Clone, Copy, Debug)]
#[repr(i32)]
#[allow(missing_docs)]
pub enum Op {
    List = 1,
    ConnectorNew = 2,
    Validate = 3,
    Start = 4,
    TaskConfigs = 5,
    ConnectorStop = 6,
    TaskNew = 7,
    TaskStart = 8,
    Poll = 9,
    Commit = 10,
    TaskStop = 11,
    Release = 12,
    LogTake = 13,
    LogLevel = 14,
    ConnectorState = 15,
}

/// An exception from Java code (a connector's or the shim's), as the
/// shim described it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JavaException {
    /// `retriable`, `config`, `fatal`, or the shim's own: `notfound`,
    /// `notsource`, `sink`, `ambiguous`.
    pub kind: String,
    /// The exception's class and message, then each cause's.
    pub message: String,
    /// For a `ConfigException`, the key it names.
    pub key: Option<String>,
    /// For `notfound`, the connectors that were found; for `ambiguous`, the matches.
    pub extras: Vec<String>,
}

/// Why a bridge call failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum CallError {
    /// Java threw.
    #[error("{}", .0.message)]
    Java(JavaException),
    /// The JVM or JNI failed, or the reply was malformed.
    #[error("{0}")]
    Jvm(#[from] JvmError),
}

impl From<CodecError> for CallError {
    fn from(e: CodecError) -> Self {
        CallError::Jvm(JvmError::Java(e.to_string()))
    }
}

/// The running shim: the JVM and the `Bridge` class.
pub struct Bridge {
    vm: &'static JavaVM,
    class: Global<JClass<'static>>,
}

static BRIDGE: OnceLock<Result<Bridge, JvmError>> = OnceLock::new();
static LOGGING: std::sync::Once = std::sync::Once::new();

/// Where the embedded shim's classes are written for the JVM's class path:
/// a directory under the system's temporary directory named by the shim's
/// contents, written once (atomically, by rename).
pub fn shim_dir() -> Result<PathBuf, JvmError> {
    if SHIM_FILES.is_empty() {
        return Err(JvmError::Java(if SHIM_MISSING.is_empty() {
            "the Java shim is missing from this build".to_owned()
        } else {
            SHIM_MISSING.to_owned()
        }));
    }
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for (name, bytes) in SHIM_FILES {
        for b in name.as_bytes().iter().chain(bytes.iter()) {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    let uid = user_id();
    let dir = std::env::temp_dir().join(format!("timely-connect-shim-{uid}-{hash:016x}"));
    if dir.is_dir() {
        return Ok(dir);
    }
    let io = |e: std::io::Error| {
        JvmError::Java(format!(
            "writing the Java shim under {}: {e}",
            dir.display()
        ))
    };
    let staging = std::env::temp_dir().join(format!(
        "timely-connect-shim-{uid}-{hash:016x}.{}.tmp",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&staging);
    for (name, bytes) in SHIM_FILES {
        let path = staging.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&path, bytes).map_err(io)?;
    }
    if let Err(e) = std::fs::rename(&staging, &dir) {
        let _ = std::fs::remove_dir_all(&staging);
        // Another process may have won the race; its copy is the same.
        if !dir.is_dir() {
            return Err(io(e));
        }
    }
    Ok(dir)
}

/// The user's id (the owner of `/proc/self`), so two users never share a
/// shim directory.
fn user_id() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0)
}

impl Bridge {
    /// The process's bridge, starting the JVM with `options` (plus the
    /// shim) on first use.
    pub fn get(options: &crate::JvmOptions) -> Result<&'static Bridge, JvmError> {
        BRIDGE
            .get_or_init(|| {
                let vm = crate::jvm(options)?;
                // The Connect API must be on the worker class path.
                vm.attach_current_thread(|env| -> Result<_, jni::errors::Error> {
                    env.find_class(jni_str!("org/apache/kafka/connect/source/SourceConnector"))
                        .map(drop)
                })
                .map_err(|_| {
                    JvmError::Java(format!(
                        "the JVM's class path has no Kafka Connect API (org.apache.kafka.connect.source.SourceConnector): {}; set jvm.classpath to a Kafka distribution's libs/, or run scripts/install-java-plugins.sh",
                        options
                            .class_path
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
                let class = vm
                    .attach_current_thread(|env| -> Result<_, jni::errors::Error> {
                        let class = env.find_class(jni_str!("io/timelyconnect/bridge/Bridge"))?;
                        env.new_global_ref(class)
                    })
                    .map_err(|e| {
                        JvmError::Java(format!(
                            "the JVM started without the bridge's classes on its class path ({e}); was it started before with other options?"
                        ))
                    })?;
                Ok(Bridge { vm, class })
            })
            .as_ref()
            .map_err(Clone::clone)
            .inspect(|bridge| LOGGING.call_once(|| crate::logging::start(bridge)))
    }

    /// The running bridge, if one was started.
    pub fn running() -> Option<&'static Bridge> {
        BRIDGE.get().and_then(|b| b.as_ref().ok())
    }

    /// The JVM.
    pub fn vm(&self) -> &'static JavaVM {
        self.vm
    }

    /// Calls operation `op` on `handle` with `arg`; the payload of a
    /// successful reply. Attaches the calling thread (for its life) first.
    pub fn call(&self, op: Op, handle: i64, arg: &[u8]) -> Result<Vec<u8>, CallError> {
        let reply = self
            .vm
            .attach_current_thread(|env| -> Result<Vec<u8>, jni::errors::Error> {
                let arg = env.byte_array_from_slice(arg)?;
                let result = env
                    .call_static_method(
                        &self.class,
                        jni_str!("call"),
                        jni_sig!("(IJ[B)[B"),
                        &[
                            JValue::Int(op as i32),
                            JValue::Long(handle),
                            JValue::Object(&arg),
                        ],
                    )?
                    .l()?;
                let array = JByteArray::cast_local(env, result)?;
                env.convert_byte_array(&array)
            })
            .map_err(|e| JvmError::Java(format!("bridge call {op:?}: {e}")))?;
        let Some((&status, payload)) = reply.split_first() else {
            return Err(JvmError::Java(format!("bridge call {op:?}: empty reply")).into());
        };
        if status == 0 {
            return Ok(payload.to_vec());
        }
        let mut r = Reader::new(payload);
        let kind = r.str()?;
        let message = r.str()?;
        let key = r.opt_str()?;
        let extras = r.strs()?;
        Err(CallError::Java(JavaException {
            kind,
            message,
            key,
            extras,
        }))
    }
}
