//! Compiles the Java shim (`java/`) with `javac --release 17` against the
//! Connect API jars that `scripts/install-java-plugins.sh` installed, and
//! embeds the class files. Without a `javac` or without those jars the
//! crate still builds; the bridge then reports, at run time, what was
//! missing (`SHIM_MISSING`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn java_dir() -> PathBuf {
    match std::env::var_os("TIMELY_CONNECT_JAVA_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".local/share/timely-connect/java"),
    }
}

fn javac() -> PathBuf {
    match std::env::var_os("JAVA_HOME") {
        Some(home) => PathBuf::from(home).join("bin/javac"),
        None => PathBuf::from("javac"),
    }
}

fn find_jar(dir: &Path, prefix: &str) -> Option<PathBuf> {
    let mut jars: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".jar"))
        })
        .collect();
    jars.sort();
    jars.pop()
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    let sources = manifest.join("java");
    let platform = java_dir().join("platform");
    println!("cargo:rerun-if-changed={}", sources.display());
    println!("cargo:rerun-if-changed={}", platform.display());
    println!("cargo:rerun-if-env-changed=TIMELY_CONNECT_JAVA_DIR");
    println!("cargo:rerun-if-env-changed=JAVA_HOME");

    let classes = out_dir.join("shim");
    let _ = std::fs::remove_dir_all(&classes);
    let mut missing = String::new();
    let jars: Vec<Option<PathBuf>> = ["connect-api-", "kafka-clients-", "slf4j-api-"]
        .iter()
        .map(|p| find_jar(&platform, p))
        .collect();
    if jars.iter().any(Option::is_none) {
        missing = format!(
            "the Java shim was not compiled: no Connect API jars in {} when this binary was built; run scripts/install-java-plugins.sh, then build again",
            platform.display()
        );
    } else {
        let mut java_files = Vec::new();
        files(&sources, &mut java_files);
        java_files.retain(|p| p.extension().is_some_and(|e| e == "java"));
        java_files.sort();
        let class_path = std::env::join_paths(jars.iter().flatten()).expect("jar paths");
        let status = Command::new(javac())
            .arg("--release")
            .arg("17")
            .arg("-encoding")
            .arg("UTF-8")
            .arg("-nowarn")
            .arg("-cp")
            .arg(&class_path)
            .arg("-d")
            .arg(&classes)
            .args(&java_files)
            .status();
        match status {
            Ok(s) if s.success() => {
                let services = sources.join("META-INF");
                let mut resources = Vec::new();
                files(&services, &mut resources);
                for r in resources {
                    let rel = r.strip_prefix(&sources).expect("under java/");
                    let dest = classes.join(rel);
                    std::fs::create_dir_all(dest.parent().expect("has a parent"))
                        .expect("create resource dir");
                    std::fs::copy(&r, &dest).expect("copy resource");
                }
            }
            Ok(s) => panic!(
                "javac failed ({s}) compiling the Java shim in {}",
                sources.display()
            ),
            Err(e) => {
                missing = format!(
                    "the Java shim was not compiled: {} could not run ({e}) when this binary was built; install a JDK 17 and build again",
                    javac().display()
                );
                println!("cargo:warning={missing}");
            }
        }
    }
    let mut embedded = Vec::new();
    files(&classes, &mut embedded);
    embedded.sort();
    let mut code = String::from("/// The shim's files: path inside the class directory, contents.\npub static SHIM_FILES: &[(&str, &[u8])] = &[\n");
    for f in &embedded {
        let rel = f.strip_prefix(&classes).expect("under shim/");
        code.push_str(&format!(
            "    ({:?}, include_bytes!({:?})),\n",
            rel.to_string_lossy(),
            f.display().to_string()
        ));
    }
    code.push_str("];\n");
    code.push_str(&format!(
        "/// Why the shim is missing (empty when it was compiled).\npub static SHIM_MISSING: &str = {missing:?};\n"
    ));
    std::fs::write(out_dir.join("shim.rs"), code).expect("write shim.rs");
}
