//! The Java side of the bridge's tests: where `scripts/install-java-plugins.sh`
//! put the jars, and the test connectors in `tests/java/plugins/`, compiled
//! with the JDK's `javac` into a plugin directory per plugin (directories
//! of classes, one of Kafka's three plugin shapes).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `$TIMELY_CONNECT_JAVA_DIR`, else `~/.local/share/timely-connect/java`.
pub fn java_dir() -> PathBuf {
    timely_connect_jvm::default_java_dir()
}

/// The installed plugins (`plugins/`): Kafka's file connector and Debezium's.
pub fn installed_plugins() -> PathBuf {
    let dir = java_dir().join("plugins");
    assert!(
        dir.is_dir(),
        "{} is missing: run scripts/install-java-plugins.sh first",
        dir.display()
    );
    dir
}

fn java_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read test sources").flatten() {
        let p = entry.path();
        if p.is_dir() {
            java_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "java") {
            out.push(p);
        }
    }
}

/// A plugin.path directory holding the test plugins (`tc-basic`,
/// `tc-iso-a`, `tc-iso-b`), compiled once per test binary.
pub fn test_plugins() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = tempfile::Builder::new()
            .prefix("tc-java-plugins-")
            .tempdir()
            .expect("tempdir")
            .keep();
        let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/java/plugins");
        let platform = java_dir().join("platform");
        for entry in std::fs::read_dir(&sources)
            .expect("tests/java/plugins")
            .flatten()
        {
            let mut files = Vec::new();
            java_files(&entry.path(), &mut files);
            let out = root.join(entry.file_name());
            let status = Command::new("javac")
                .arg("--release")
                .arg("17")
                .arg("-nowarn")
                .arg("-cp")
                .arg(platform.join("*"))
                .arg("-d")
                .arg(&out)
                .args(&files)
                .status()
                .expect("run javac (a JDK 17 is needed)");
            assert!(
                status.success(),
                "javac failed for {}",
                entry.path().display()
            );
        }
        root
    })
}
