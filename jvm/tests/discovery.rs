//! A real embedded JVM (libjvm loaded at run time through JNI) discovers
//! the Java source connectors that `scripts/install-java-plugins.sh`
//! installed, each in a class loader of its own, with its `version()`.

use std::path::PathBuf;

use timely_connect_jvm::{
    default_java_dir as java_dir, jvm, list_connectors, plugin_locations, Bridge, JvmOptions,
};

#[test]
fn the_embedded_jvm_finds_each_plugin_s_connectors_in_its_own_loader() {
    let dir = java_dir();
    let platform: Vec<PathBuf> = std::fs::read_dir(dir.join("platform"))
        .expect("run scripts/install-java-plugins.sh first")
        .map(|e| e.unwrap().path())
        .collect();
    let options = JvmOptions {
        class_path: platform,
        options: vec![],
    };
    let vm = jvm(&options).expect("the JVM starts");
    let bridge = Bridge::get(&options).expect("the bridge's classes load");
    let plugins = plugin_locations(&[dir.join("plugins")]);
    assert_eq!(plugins.len(), 4, "{plugins:?}");
    let (found, failures) = list_connectors(bridge, &plugins);
    assert!(failures.is_empty(), "{failures:?}");
    let summary: Vec<(String, String, String)> = found
        .iter()
        .map(|c| {
            (
                c.class.clone(),
                c.version.clone(),
                c.plugin.file_name().unwrap().to_string_lossy().into_owned(),
            )
        })
        .collect();
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
        assert!(
            summary.contains(&(class.to_owned(), version.to_owned(), plugin.to_owned())),
            "{class} {version} from {plugin} not in {summary:?}"
        );
    }
    // The same JVM is returned on later calls (one per process).
    let again = jvm(&JvmOptions::default()).unwrap();
    assert!(std::ptr::eq(vm, again));
}
