//! JVM options from `TIMELY_CONNECT_JVM_OPTIONS` reach the embedded JVM,
//! after the defaults. (Its own test binary: it sets the environment.)

#[test]
fn options_from_the_environment_reach_the_jvm() {
    // SAFETY: this test binary has one test; nothing else reads the environment.
    unsafe { std::env::set_var("TIMELY_CONNECT_JVM_OPTIONS", "-Dtc.probe=42 -Dtc.other=x") };
    let vm = timely_connect_jvm::jvm(&timely_connect_jvm::JvmOptions {
        class_path: vec![],
        // A collector of the user's replaces the default one (two
        // collectors would stop the JVM from starting).
        options: vec![
            "-Dtc.probe=1".to_owned(),
            "-Dtc.key=from-key".to_owned(),
            "-XX:+UseG1GC".to_owned(),
        ],
    })
    .expect("the JVM starts");
    let get = |name: &str| timely_connect_jvm::system_property(vm, name).unwrap();
    // The environment comes after the key's options, so it wins.
    assert_eq!(get("tc.probe").as_deref(), Some("42"));
    assert_eq!(get("tc.other").as_deref(), Some("x"));
    assert_eq!(get("tc.key").as_deref(), Some("from-key"));
    assert_eq!(get("tc.unset"), None);
}
